"""What every command group of `cognitive-memory` shares: the environment option and the
rule that a user-fixable error is one line and exit code 2."""

from __future__ import annotations

import os
import traceback
from enum import StrEnum
from functools import wraps

import typer

from mcp_server.config import ConfigurationError
from mcp_server.db.connection import DatabaseError
from mcp_server.db.migrator import MigrationError
from mcp_server.ops.errors import OpsError
from mcp_server.runtime import SchemaNotCurrentError

# Errors a user fixes by changing something; they print one line and exit 2.
USER_ERRORS = (
    ConfigurationError,
    FileNotFoundError,
    DatabaseError,
    MigrationError,
    SchemaNotCurrentError,
    OpsError,
)


class Environment(StrEnum):
    development = "development"
    production = "production"


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


def set_environment(env: Environment | None) -> str | None:
    if env is not None:
        os.environ["ENVIRONMENT"] = env.value
    return env.value if env is not None else None


def load_for_database_work(env: Environment | None):
    from mcp_server import runtime

    return runtime.load(set_environment(env), log_level="WARNING", providers=False)
