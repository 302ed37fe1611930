"""Start-up shared by the server and the CLI: settings, logging, database, schema."""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from functools import wraps

from mcp_server.config import Settings, load_settings
from mcp_server.db import migrator
from mcp_server.db.connection import connect, database_url
from mcp_server.errors import UserError, user_errors
from mcp_server.log import configure_logging

log = logging.getLogger("mcp_server")


class SchemaNotCurrentError(UserError):
    pass


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database_url: str


def load(
    environment: str | None = None, *, log_level: str | None = None, providers: bool = True
) -> Runtime:
    """Load and validate configuration, then route logs (secrets masked) to stderr."""
    settings = load_settings(environment, providers=providers)
    secrets = [value.get_secret_value() for value in settings.secrets.values()]
    # COGMEM_LOG_LEVEL lets a user (or a parent process) quieten or raise one run.
    level = log_level or os.environ.get("COGMEM_LOG_LEVEL") or settings.logging.level
    configure_logging(level, secrets)
    return Runtime(settings, database_url(settings))


def prepare_database(runtime: Runtime, *, auto_migrate: bool) -> list[str]:
    """Check the database and its schema; migrate it when allowed (development, embedded)."""
    settings = runtime.settings
    with connect(settings, url=runtime.database_url, autocommit=True) as conn:
        if auto_migrate:
            done = migrator.migrate(conn, embedding_dim=settings.embedding.dimension)
            return [m.file_name for m in done]
        if not migrator.current(conn):
            raise SchemaNotCurrentError(
                f"The {settings.database.name} schema is not current; "
                f"run: cognitive-memory db migrate --env {settings.environment}"
            )
    # a missing vector index is built by the server once it serves (db.index_upkeep)
    return []


def start(environment: str | None = None) -> Runtime:
    """Everything a server needs before it may say READY."""
    runtime = load(environment)
    settings = runtime.settings
    embedded = settings.secret("DATABASE_URL") is None
    applied = prepare_database(
        runtime, auto_migrate=embedded or settings.environment == "development"
    )
    log.info(
        f"{settings.environment.capitalize()} environment loaded",
        extra={
            "environment": settings.environment,
            "database": settings.database.name,
            "embedded_database": embedded,
            "embedding_provider": settings.embedding.provider,
            "migrations_applied": applied,
        },
    )
    return runtime


def database_command(*, autocommit: bool = False):
    """A command-line command that takes (conn, settings) first: settings loaded without API
    keys, one checked connection, and a user-fixable error as one line with exit 2."""

    def decorate(command):
        @wraps(command)
        def wrapper(*args, **kwargs):
            @user_errors
            def run():
                loaded = load(log_level="WARNING", providers=False)
                url = loaded.database_url
                with connect(loaded.settings, url=url, autocommit=autocommit) as conn:
                    return command(conn, loaded.settings, *args, **kwargs)

            return run()

        # typer reads the signature: show it the options, not the injected conn and settings,
        # with their types resolved here (the command's module knows their names, not this one).
        signature = inspect.signature(command, eval_str=True)
        parameters = list(signature.parameters.values())[2:]
        wrapper.__signature__ = signature.replace(parameters=parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__
        return wrapper

    return decorate
