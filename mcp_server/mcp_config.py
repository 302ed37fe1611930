"""What a user pastes into Claude Code to register this server, for each way to reach it."""

from __future__ import annotations

import json
import shlex
import shutil
import sys

TOKEN_VARIABLE = "COGMEM_TOKEN"


def _local_command() -> list[str]:
    installed = shutil.which("cognitive-memory")
    return [installed, "serve"] if installed else [sys.executable, "-m", "mcp_server"]


def _remote_command(prefix: str, environment: str, ssh_host: str) -> list[str]:
    # Runs as the service user so the mode-600 env files stay readable only by it; Debian's
    # minimal images have runuser but not always sudo.
    switch = ["runuser", "-u"] if ssh_host.startswith("root@") else ["sudo", "-u"]
    return [
        *switch, "cognitive-memory", "--", "env",
        f"ENVIRONMENT={environment}", f"COGMEM_CONFIG_DIR={prefix}/config",
        f"{prefix}/venv/bin/cognitive-memory", "serve",
    ]  # fmt: skip


def _entry(command: list[str], env: dict[str, str] | None = None) -> dict:
    entry: dict = {"type": "stdio", "command": command[0], "args": command[1:]}
    if env:
        entry["env"] = env
    return entry


def _block(title: str, add: list[str], entry: dict, name: str, note: str = "") -> str:
    document = json.dumps({"mcpServers": {name: entry}}, indent=2)
    lines = [f"## {title}", "", "  " + shlex.join(add), "", ".mcp.json:", document]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def render(
    *,
    name: str,
    url: str,
    ssh_host: str | None,
    prefix: str,
    environment: str,
    config_dir: str | None = None,
) -> str:
    local = _local_command()
    # Pinned, because Claude Code starts the server in whatever project folder is open.
    env = {"ENVIRONMENT": environment} | ({"COGMEM_CONFIG_DIR": config_dir} if config_dir else {})
    options = [part for key, value in env.items() for part in ("--env", f"{key}={value}")]
    sections = [
        _block(
            "Local (stdio: Claude Code starts its own copy)",
            ["claude", "mcp", "add", name, *options, "--", *local],
            _entry(local, env),
            name,
            f"Configuration: {config_dir}" if config_dir else "",
        ),
        _block(
            "Streamable HTTP (the systemd service), token from the environment",
            [
                "claude",
                "mcp",
                "add",
                "--transport",
                "http",
                name,
                url,
                "--header",
                f"Authorization: Bearer ${{{TOKEN_VARIABLE}}}",
            ],
            {
                "type": "http",
                "url": url,
                "headers": {"Authorization": f"Bearer ${{{TOKEN_VARIABLE}}}"},
            },
            name,
            f"Set {TOKEN_VARIABLE} to MCP_HTTP_TOKEN from the host's config/.env.production; "
            "for a remote host open a tunnel first: ssh -N -L 8765:127.0.0.1:8765 user@host",
        ),
    ]
    if ssh_host:
        remote = ["ssh", "-T", ssh_host, *_remote_command(prefix, "production", ssh_host)]
        sections.append(
            _block(
                f"stdio over SSH to {ssh_host}",
                ["claude", "mcp", "add", name, "--", *remote],
                _entry(remote),
                name,
            )
        )
    return "\n".join(sections)
