"""`cognitive-memory`: one command line for the server, the schema and operations."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path

import typer

from mcp_server import cluster_cli, init_cli, reindex_cli
from mcp_server.cli_support import ENV_OPTION, Environment, user_errors
from mcp_server.cli_support import load_for_database_work as _load_for_database_work
from mcp_server.cli_support import set_environment as _set_environment
from mcp_server.config import ConfigurationError
from mcp_server.errors import report
from mcp_server.evaluation import cli as evaluation_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Create and migrate the databases.")
app.add_typer(db_app, name="db")
app.add_typer(evaluation_cli.judge_app, name="judge")
app.add_typer(evaluation_cli.golden_app, name="golden")


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


@app.command()
@user_errors
def serve(
    transport: Transport = typer.Option(Transport.stdio, help="stdio (a client starts it) or http"),
    host: str = typer.Option("127.0.0.1", help="HTTP bind address (loopback unless told)"),
    port: int = typer.Option(8765, min=1, max=65535, help="HTTP port"),
    allow_host: list[str] = typer.Option(
        [], help="Extra Host/Origin name allowed over HTTP (e.g. a reverse proxy's)"
    ),
    env: Environment | None = ENV_OPTION,
) -> None:
    """Run the MCP server (stdio by default; the systemd service uses --transport http)."""
    import anyio

    from mcp_server import runtime
    from mcp_server.server import build_server

    stdio = transport is Transport.stdio
    if stdio:
        from mcp_server.exit_signals import exit_cleanly_on_signals

        exit_cleanly_on_signals()  # before the start, which may start the embedded cluster
    started = runtime.start(_set_environment(env))
    if stdio:
        from mcp_server.transport.stdio import serve_stdio

        anyio.run(serve_stdio, build_server(started))
        return
    from mcp_server.monitoring.health import PoolHealth
    from mcp_server.transport.http import serve_http

    token = _http_token(started.settings)
    health = PoolHealth()
    server = build_server(started, health)
    anyio.run(
        lambda: serve_http(
            server, token=token, host=host, port=port, healthy=health, extra_hosts=allow_host
        )
    )


def _http_token(settings) -> str:
    token = settings.secret("MCP_HTTP_TOKEN")
    if not token or len(token) < 16:
        raise ConfigurationError(
            f"MCP_HTTP_TOKEN is missing or shorter than 16 characters in {settings.env_file}; "
            "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


@app.command()
@user_errors
def call(
    tool: str = typer.Argument(..., help="Tool name, e.g. ping or store_raw_dialogue"),
    json_args: str = typer.Option("{}", "--json-args", help="Tool arguments as a JSON object"),
    url: str | None = typer.Option(
        None, help="Streamable HTTP endpoint (token from the env file); default: own stdio server"
    ),
    env: Environment | None = ENV_OPTION,
) -> None:
    """Call one tool through the official MCP client and print its result as JSON."""
    import json

    import anyio

    from mcp_server.client import ToolCallError, connect, innermost, payload
    from mcp_server.config import load_settings

    environment = _set_environment(env) or os.environ.get("ENVIRONMENT", "development")
    try:
        arguments = json.loads(json_args)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"--json-args is not valid JSON: {error}") from None
    if not isinstance(arguments, dict):
        raise ConfigurationError("--json-args must be a JSON object")
    token = load_settings(environment).secret("MCP_HTTP_TOKEN") if url else None

    async def run():
        async with connect(url=url, token=token, environment=environment) as client:
            return await client.call_tool(tool, arguments)

    try:
        # Judged outside the client's task groups, so a refusal is no exception group.
        result = payload(tool, anyio.run(run))
    except ToolCallError as error:
        typer.echo(f"error: {tool}: {error}", err=True)
        raise typer.Exit(1) from None
    except Exception as error:
        # Refused connections, a server that would not start: one line (the whole story
        # with COGMEM_DEBUG=1), not the transports' nested exception groups.
        cause = innermost(error)
        reason = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        report(f"cannot reach {url or 'the stdio server'}: {reason}")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result, indent=2, default=str))


app.command("init")(user_errors(init_cli.init))
app.command("reindex")(reindex_cli.reindex)
db_app.command("stop")(cluster_cli.stop)


@app.command("mcp-config")
def mcp_config(
    name: str = typer.Option("cognitive-memory", help="Server name in Claude Code"),
    url: str = typer.Option("http://127.0.0.1:8765/mcp", help="HTTP endpoint (local or tunnel)"),
    ssh_host: str | None = typer.Option(None, help="user@host of a deployed appliance"),
    prefix: str = typer.Option("/opt/cognitive-memory", help="Install prefix on that host"),
    env: Environment = typer.Option(Environment.development, "--env"),
) -> None:
    """Print what to paste into Claude Code: stdio (local), HTTP with token, stdio over SSH."""
    from mcp_server import user_config
    from mcp_server.mcp_config import render

    config_dir = user_config.config_home().expanduser().resolve()
    user_config.initialize(config_dir, env.value)  # so the pinned folder exists
    typer.echo(
        render(name=name, url=url, ssh_host=ssh_host, prefix=prefix, environment=env.value,
               config_dir=str(config_dir))
    )  # fmt: skip


@db_app.command("migrate")
@user_errors
def db_migrate(env: Environment | None = ENV_OPTION) -> None:
    """Apply pending migrations to this environment's database."""
    _migrate(_load_for_database_work(env))


def _migrate(loaded) -> None:
    from mcp_server.db import migrator
    from mcp_server.db.connection import connect

    settings = loaded.settings
    with connect(settings, url=loaded.database_url, autocommit=True) as conn:
        done = migrator.migrate(conn, embedding_dim=settings.embedding.dimension)
    if done:
        for migration in done:
            typer.echo(f"applied {migration.file_name}")
    else:
        typer.echo(f"{settings.database.name}: schema is current, nothing to apply")


@db_app.command("setup")
@user_errors
def db_setup(env: Environment = typer.Option(Environment.development, "--env")) -> None:
    """Create this environment's database if needed (embedded or DATABASE_URL) and migrate it."""
    from mcp_server.db.connection import create_database_if_missing

    loaded = _load_for_database_work(env)
    if create_database_if_missing(loaded.database_url):
        typer.echo(f"created database {loaded.settings.database.name}")
    _migrate(loaded)


@db_app.command("status")
@user_errors
def db_status(env: Environment | None = ENV_OPTION) -> None:
    """Show which migrations are applied, and whether the embedded cluster runs."""
    from rich.console import Console
    from rich.table import Table

    from mcp_server.config import load_settings
    from mcp_server.db import embedded, migrator
    from mcp_server.db.connection import connect

    if load_settings(_set_environment(env), providers=False).secret("DATABASE_URL") is None:
        cluster = embedded.state()
        typer.echo(cluster_cli.describe(cluster))
        if cluster.postmaster is None:
            return  # a status never starts it
    loaded = _load_for_database_work(env)
    with connect(loaded.settings, url=loaded.database_url, autocommit=True) as conn:
        known = migrator.applied(conn)
    table = Table(title=f"{loaded.settings.database.name} migrations")
    for column in ("version", "name", "state"):
        table.add_column(column)
    for migration in migrator.discover():
        state = "applied" if migration.version in known else "pending"
        table.add_row(f"{migration.version:03d}", migration.name, state)
    Console().print(table)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="cognitive-memory")
    except KeyboardInterrupt:
        sys.exit(130)


@app.command()
@user_errors
def reembed(
    env: Environment | None = ENV_OPTION,
    batch_size: int = typer.Option(64, min=1, max=2048, help="Texts per embedding request"),
    everything: bool = typer.Option(
        False, "--all", help="Re-embed every row, not only rows of another model or dimension"
    ),
) -> None:
    """Re-embed stored insights and episodes with the configured model (after a model change)."""
    import anyio

    from mcp_server import runtime

    started = runtime.start(_set_environment(env))
    anyio.run(_reembed, started, batch_size, everything)


async def _reembed(started, batch_size: int, everything: bool) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from mcp_server.db.connection import open_pool
    from mcp_server.ops import reembed as ops
    from mcp_server.providers.costs import pool_cost_sink
    from mcp_server.providers.factory import close_provider, make_embedder

    console = Console(stderr=True)
    pool = await open_pool(started.settings, started.database_url)
    embedder = make_embedder(started.settings, pool_cost_sink(pool))
    try:
        async with pool.connection() as conn:
            targets = [
                t for t in await ops.outdated(conn, embedder, everything=everything) if t.count
            ]
            if not targets:
                console.print(
                    f"Every embedding is already {embedder.model} ({embedder.dimension})."
                )
                return
            with Progress(console=console) as progress:
                for target in targets:
                    task = progress.add_task(target.table, total=target.count)
                    await ops.reembed_table(
                        conn, embedder, target, batch_size=batch_size, everything=everything,
                        advance=lambda n, task=task: progress.advance(task, n),
                    )  # fmt: skip
    finally:
        await close_provider(embedder)
        await pool.close()
    console.print(f"Re-embedded with {embedder.model} ({embedder.dimension} dimensions).")


@app.command("export-l2")
@user_errors
def export_l2(
    to: Path | None = typer.Option(
        None, help="Git repository folder (default: <data dir>/exports/l2-<env>)"
    ),
    keep_days: int | None = typer.Option(
        None, "--keep-days", min=1, help="Fold export history older than this many days"
    ),
    env: Environment | None = ENV_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Export L2 insights as JSON Lines and commit them to a git repository (cron, 03:00)."""
    import json

    from mcp_server.db.connection import connect
    from mcp_server.db.embedded import data_dir
    from mcp_server.ops.export import export_l2 as run_export

    loaded = _load_for_database_work(env)
    settings = loaded.settings
    target = to or data_dir() / "exports" / f"l2-{settings.environment}"
    with connect(settings, url=loaded.database_url) as conn:
        result = run_export(conn, target, settings.database.name, keep_days)
    if as_json:
        typer.echo(json.dumps({"path": str(result.path), "rows": result.rows,
                               "commit": result.commit, "pruned": result.pruned}))  # fmt: skip
    elif result.commit:
        typer.echo(
            f"exported {result.rows} insights to {result.path} (commit {result.commit[:10]})"
        )
    else:
        typer.echo(f"{result.rows} insights, unchanged since the last export: nothing to commit")
    if result.pruned:
        typer.echo(f"removed {result.pruned} commits older than {keep_days} days from the history")


# The appliance tools live in provisioning/ (control machine, not the installed server):
# these commands hand their arguments to it, from a checkout or an editable install.
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _provisioning(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("provisioning"):
            raise
        typer.echo(
            "error: the deploy tools come with a checkout of the repository "
            "(pip install -e '.[deploy]' there)",
            err=True,
        )
        raise typer.Exit(2) from None


@app.command(context_settings=PASSTHROUGH)
def deploy(ctx: typer.Context) -> None:
    """Deploy the appliance: [check] INVENTORY [--data KEY=VALUE ...] (pyinfra)."""
    args = ctx.args if ctx.args[:1] in (["check"], ["deploy"]) else ["deploy", *ctx.args]
    raise typer.Exit(_provisioning("provisioning.__main__").main(args))


@app.command(context_settings=PASSTHROUGH)
def checklist(ctx: typer.Context) -> None:
    """Run the production checklist: --hosts ssh://HOST [--ssh-config FILE] [--junitxml PATH]."""
    raise typer.Exit(_provisioning("provisioning.checklist.__main__").main(ctx.args))


@app.command(context_settings=PASSTHROUGH)
def testhost(ctx: typer.Context) -> None:
    """Throwaway Debian 13 hosts on this machine: up|down|list [--name N]."""
    raise typer.Exit(_provisioning("provisioning.testhost").main(ctx.args))


# backup, restore, import, psql, job, alert: operations on the data (mcp_server/cli_ops.py)
from mcp_server.cli_ops import register as _register_ops  # noqa: E402

_register_ops(app)

if __name__ == "__main__":
    main()
