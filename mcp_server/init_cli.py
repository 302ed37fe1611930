"""`cognitive-memory init`: the configuration folder of a local install, created and shown."""

from __future__ import annotations

from pathlib import Path

import typer

from mcp_server import user_config
from mcp_server.config import load_settings, resolve_environment


def init(
    env: str = typer.Option("development", "--env", help="development or production"),
    config_dir: Path | None = typer.Option(
        None, help="Where to create it (default: $COGMEM_CONFIG_DIR or the user config folder)"
    ),
) -> None:
    """Create the configuration folder (config.yaml, .env.<env> with mode 600) if missing."""
    env = resolve_environment(env)
    target = (config_dir or user_config.config_home()).expanduser().resolve()
    created = user_config.initialize(target, env)
    for path in created:
        typer.echo(f"created {path}")
    if not created:
        typer.echo(f"{target} already holds a configuration; nothing changed")
    # Reading it back names any problem (an old file, a bad value) now, not at first use.
    settings = load_settings(env, target, providers=False)
    typer.echo(
        f"\nConfiguration folder: {target}\n"
        f"- choose the embedding provider in {target / 'config.yaml'} "
        f"(now: {settings.embedding.provider})\n"
        f"- put API keys in {settings.env_file} (mode 600)\n"
        "- then register the server: cognitive-memory mcp-config"
    )
