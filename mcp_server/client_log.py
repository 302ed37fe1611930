"""What the client sees of our log: MCP `notifications/message`, filtered by `logging/setLevel`.

Each tool call reports its outcome to the client: "debug" for an answer (with how long it
took), "warning" for a refusal. A session sees nothing below "warning" until it asks for
more with logging/setLevel (the level is kept per session). Clients of the 2026-07-28
revision, which dropped setLevel, opt in per request instead; the SDK honours that.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import mcp_types as types
from mcp.server import MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
DEFAULT_LEVEL = "warning"
LOGGER = "cognitive-memory"

_levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _connection(session: Any) -> Any:
    # The SDK makes a ServerSession per request; the connection behind it is what lasts.
    return getattr(session, "_connection", session)


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    _levels[_connection(ctx.session)] = params.level
    return types.EmptyResult()


def register(server: MCPServer) -> None:
    # MCPServer has no setter for it; the SDK's own constructors take this handler the same way.
    server._lowlevel_server.add_request_handler(
        "logging/setLevel", types.SetLevelRequestParams, set_level
    )


async def send(context: Any, level: str, message: str) -> None:
    """Tell the client, when its session asked for `level` or less; never fail the call."""
    try:
        session = context.request_context.session
    except (AttributeError, ValueError, LookupError):
        return  # called outside a request (tests calling a tool directly)
    wanted = _levels.get(_connection(session), DEFAULT_LEVEL)
    if LEVELS.index(level) < LEVELS.index(wanted):
        return
    with warnings.catch_warnings():
        # Deprecated by the 2026-07-28 revision, still how handshake-era clients are told.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        try:
            await context.log(level, message, logger_name=LOGGER)
        except Exception:  # a closed stream must not turn an answer into an error
            return
