"""`cognitive-memory`: one command line for the server, the schema and operations."""

from __future__ import annotations

import os
import sys
import traceback
from enum import StrEnum
from functools import wraps

import typer

from mcp_server.config import ConfigurationError
from mcp_server.db.connection import DatabaseError
from mcp_server.db.migrator import MigrationError
from mcp_server.runtime import SchemaNotCurrentError

# Errors a user fixes by changing something; they print one line and exit 2.
USER_ERRORS = (
    ConfigurationError,
    FileNotFoundError,
    DatabaseError,
    MigrationError,
    SchemaNotCurrentError,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Create and migrate the databases.")
app.add_typer(db_app, name="db")


class Environment(StrEnum):
    development = "development"
    production = "production"


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


ENV_OPTION = typer.Option(
    None, "--env", help="development or production (default: $ENVIRONMENT or development)"
)


def _debugging() -> bool:
    return os.environ.get("COGMEM_DEBUG") == "1"


def user_errors(command):
    """Turn a user-fixable error into one clear line and exit code 2 (traceback with DEBUG)."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            if _debugging():
                traceback.print_exc()
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _set_environment(env: Environment | None) -> str | None:
    if env is not None:
        os.environ["ENVIRONMENT"] = env.value
    return env.value if env is not None else None


@app.command()
@user_errors
def serve(
    transport: Transport = typer.Option(Transport.stdio, help="stdio (a client starts it) or http"),
    host: str = typer.Option("127.0.0.1", help="HTTP bind address"),
    port: int = typer.Option(8765, help="HTTP port"),
    env: Environment | None = ENV_OPTION,
) -> None:
    """Run the MCP server (stdio by default; the systemd service uses --transport http)."""
    from mcp_server import runtime
    from mcp_server.server import build_server

    started = runtime.start(_set_environment(env))
    server = build_server(started)
    if transport is Transport.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


@db_app.command("migrate")
@user_errors
def db_migrate(env: Environment | None = ENV_OPTION) -> None:
    """Apply pending migrations to this environment's database."""
    from mcp_server import runtime
    from mcp_server.db import migrator
    from mcp_server.db.connection import connect

    loaded = runtime.load(_set_environment(env), log_level="WARNING")
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
    db_migrate(env)


@db_app.command("status")
@user_errors
def db_status(env: Environment | None = ENV_OPTION) -> None:
    """Show which migrations are applied."""
    from rich.console import Console
    from rich.table import Table

    from mcp_server import runtime
    from mcp_server.db import migrator
    from mcp_server.db.connection import connect

    loaded = runtime.load(_set_environment(env), log_level="WARNING")
    with connect(loaded.settings, url=loaded.database_url, autocommit=True) as conn:
        conn.execute(migrator._CREATE_LEDGER)
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
