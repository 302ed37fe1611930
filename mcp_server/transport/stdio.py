"""MCP over stdio, where a message the transport cannot read still gets an answer.

The SDK's stdio transport hands a line it cannot parse to the session as an exception,
and the session drops it: the client waits for its own timeout. A lone surrogate
("a\\ud800b") is the common case: valid JSON syntax, but no valid Unicode, so the strict
parser refuses it. Here such a line gets a JSON-RPC error, as over HTTP, and the server
goes on:

- -32602 (invalid params) with the request's id when Python's lenient parser can still
  read the line, so the client's pending request ends at once;
- -32700 (parse error, id null) when the line is no JSON at all;
- -32600 (invalid request, id null) when it is JSON but no JSON-RPC message;
- nothing for a notification (it has no id, and JSON-RPC never answers one).
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError


async def serve_stdio(server: MCPServer) -> None:
    # What MCPServer.run_stdio_async does, with the answering read stream in between.
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(
            AnsweringReadStream(read_stream, write_stream),
            write_stream,
            lowlevel.create_initialization_options(),
        )


class AnsweringReadStream:
    """The transport's read stream, minus unreadable lines, which are answered instead."""

    def __init__(self, inner: Any, replies: Any) -> None:
        self._inner = inner
        self._replies = replies

    @property
    def last_context(self):
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage:
        while isinstance(item := await self._inner.receive(), Exception):
            await self._answer(item)
        return item

    async def __anext__(self) -> SessionMessage:
        while isinstance(item := await self._inner.__anext__(), Exception):
            await self._answer(item)
        return item

    def __aiter__(self) -> AnsweringReadStream:
        return self

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AnsweringReadStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> bool | None:
        return await self._inner.__aexit__(*exc_info)

    async def _answer(self, error: Exception) -> None:
        if (reply := error_reply(error)) is not None:
            await self._replies.send(SessionMessage(reply))


def error_reply(error: Exception) -> types.JSONRPCError | None:
    line = _raw_line(error)
    if line is None:
        return _error(None, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC message")
    try:
        message = json.loads(line)
    except ValueError:
        return _error(None, types.PARSE_ERROR, "Parse error: the line is not valid JSON")
    if not isinstance(message, dict):
        return _error(None, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC message")
    if "id" not in message:
        return None  # a notification
    request_id = message["id"]
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        request_id = None
    if _has_lone_surrogate(message):
        return _error(request_id, types.INVALID_PARAMS,
                      "Invalid params: a string holds a lone surrogate (such as \\ud800), "
                      "which is not valid Unicode; send valid UTF-8 text")  # fmt: skip
    return _error(request_id, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC message")


def _raw_line(error: Exception) -> str | None:
    """The line the transport could not parse (pydantic keeps it for an invalid JSON)."""
    if isinstance(error, ValidationError):
        for item in error.errors(include_url=False):
            if item["type"] == "json_invalid" and isinstance(item.get("input"), str):
                return item["input"]
    return None


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def _error(request_id: int | str | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )
