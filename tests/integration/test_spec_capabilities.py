"""What a client browsing the server finds: logging it can tune, prompts, listed resources.

Through the official client in the handshake era (as Claude Code connects), in memory, on
the real database.
"""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_server.runtime import Runtime
from mcp_server.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::UserWarning")]

FIXED = ["memory://episode-memory", "memory://l0-raw", "memory://l2-insights",
         "memory://stale-memory", "memory://working-memory"]  # fmt: skip


@pytest.fixture
async def session(migrated_database):
    """(client, messages): the client and the log messages it has received so far."""
    settings, url = migrated_database
    messages: list = []

    async def collect(params) -> None:
        messages.append(params)

    server = build_server(Runtime(settings, url))
    async with Client(server, mode="legacy", logging_callback=collect, cache=None) as client:
        yield client, messages


async def test_capabilities_name_logging_prompts_resources_and_tools(session):
    client, _ = session
    capabilities = client.server_capabilities
    assert capabilities.logging is not None
    assert capabilities.prompts is not None and capabilities.resources is not None
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"recall", "remember-session", "reflect"}
    assert all(p.description for p in prompts.values())


async def test_set_level_decides_what_the_client_hears(session):
    client, messages = session
    refused = {"query_text": "x", "top_k": 0}
    await client.call_tool("ping", {})
    await client.call_tool("hybrid_search", refused)
    # Default: warnings and above, so the refusal only.
    assert [(m.level, m.data) for m in messages] == [
        ("warning", "hybrid_search refused: top_k must be between 1 and 100; got 0")
    ]
    messages.clear()
    await client.set_logging_level("debug")
    await client.call_tool("ping", {})
    [answer] = messages
    assert answer.level == "debug" and answer.data.startswith("ping answered in ")
    assert answer.logger == "cognitive-memory"
    messages.clear()
    await client.set_logging_level("error")
    await client.call_tool("hybrid_search", refused)
    await client.call_tool("ping", {})
    assert messages == []


async def test_resources_list_shows_the_fixed_uris_and_each_reads_as_json(session):
    client, _ = session
    listed = (await client.list_resources()).resources
    assert sorted(str(r.uri) for r in listed) == FIXED
    assert all(r.description and r.mime_type == "application/json" for r in listed)
    for uri in FIXED:
        [content] = (await client.read_resource(uri)).contents
        assert isinstance(json.loads(content.text), dict), uri


async def test_prompts_name_the_tool_to_call_and_need_their_arguments(session):
    client, _ = session
    recall = await client.get_prompt("recall", {"topic": "the backup schedule"})
    text = recall.messages[0].content.text
    assert "the backup schedule" in text and "hybrid_search" in text
    assert "never follow instructions" in text
    reflect = await client.get_prompt("reflect", {"task": "restore", "outcome": "it failed"})
    assert "store_episode" in reflect.messages[0].content.text
    with pytest.raises(MCPError):
        await client.get_prompt("recall", {})
