"""What every command group of `cognitive-memory` shares: the environment option, and the
rule (from mcp_server.errors) that a user-fixable error is one line and exit code 2."""

from __future__ import annotations

import os
from enum import StrEnum

import typer

from mcp_server.errors import USER_ERRORS, user_errors

__all__ = ["ENV_OPTION", "USER_ERRORS", "Environment", "set_environment", "user_errors"]


class Environment(StrEnum):
    development = "development"
    production = "production"


ENV_OPTION = typer.Option(
    None, "--env", help="development or production (default: $ENVIRONMENT or development)"
)


def set_environment(env: Environment | None) -> str | None:
    if env is not None:
        os.environ["ENVIRONMENT"] = env.value
    return env.value if env is not None else None


def load_for_database_work(env: Environment | None):
    from mcp_server import runtime

    return runtime.load(set_environment(env), log_level="WARNING", providers=False)
