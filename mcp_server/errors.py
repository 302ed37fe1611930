"""Errors a user fixes by changing something, and how every command line reports them.

Below the CLI on purpose: the budget CLI, the drift check and the scripts report errors the
same way without importing the face (mcp_server/cli.py).
"""

from __future__ import annotations

import os
import sys
import traceback
from functools import wraps

from mcp_server.config import ConfigurationError


class UserError(Exception):
    """A problem the user fixes (a setting, a database, a schema); the message says how."""


# They print one line and exit 2; COGMEM_DEBUG=1 adds the traceback.
USER_ERRORS = (UserError, ConfigurationError, FileNotFoundError)
EXIT_USER_ERROR = 2


def report(error: BaseException) -> None:
    if os.environ.get("COGMEM_DEBUG") == "1":
        traceback.print_exc()
    print(f"error: {error}", file=sys.stderr)


def user_errors(command):
    """Turn a user-fixable error into one clear line on stderr and exit status 2."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            report(error)
            raise SystemExit(EXIT_USER_ERROR) from None

    return wrapper
