"""The one error type of operations: something an operator can fix, said in one line."""

from mcp_server.errors import UserError


class OpsError(UserError):
    """A backup, restore, import or check that could not be done; nothing was left half-done."""
