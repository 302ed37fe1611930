"""A thin MCP client (the official SDK's) for scripts, the checklist and `cognitive-memory call`."""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult


class ToolCallError(Exception):
    """The server answered the call with isError; the message is the server's."""


def stdio_parameters(environment: str) -> StdioServerParameters:
    """Start our own server over stdio, with this process's environment and configuration."""
    env = {**os.environ, "ENVIRONMENT": environment, "COGMEM_LOG_LEVEL": "WARNING"}
    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"], env=env)


@asynccontextmanager
async def connect(*, url: str | None = None, token: str | None = None, environment: str):
    """A connected client: HTTP (with the bearer token) when `url` is given, else stdio."""
    if url is None:
        async with Client(stdio_parameters(environment), read_timeout_seconds=60) as client:
            yield client
        return
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client


async def call_tool(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return payload(name, await client.call_tool(name, arguments))


def payload(name: str, result: CallToolResult) -> dict[str, Any]:
    """The structured result, or ToolCallError with the server's message on one line."""
    if result.is_error:
        text = " ".join(getattr(part, "text", "") for part in result.content)
        raise ToolCallError(" ".join(text.split()) or f"{name} failed")
    return result.structured_content or {}


def innermost(error: BaseException) -> BaseException:
    """The error inside the task groups of the client's transports."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
