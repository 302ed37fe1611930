"""The official MCP client on an in-memory server over a test database, and a tool call."""

from __future__ import annotations

from mcp import Client

from mcp_server.runtime import Runtime
from mcp_server.server import build_server


def connect(settings, url: str) -> Client:
    """An unentered client: `async with connect(settings, url) as client: ...`."""
    return Client(build_server(Runtime(settings, url)), cache=None)


async def call(client: Client, tool: str, **arguments) -> dict:
    """A tool call that must succeed; its structured result."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content
