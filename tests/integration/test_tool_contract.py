"""What every tool promises a client: strict inputs, readable refusals, truthful annotations.

Through the official MCP client, in memory, on the real database.
"""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.server import MCPServer

from mcp_server import strict_tools
from mcp_server.runtime import Runtime
from mcp_server.server import build_server
from tests.support.memory_schema import TOOLS, row_counts

pytestmark = pytest.mark.anyio

HINTS = ("read_only_hint", "idempotent_hint", "destructive_hint", "open_world_hint")


@pytest.fixture
async def client(migrated_database):
    settings, url = migrated_database
    async with Client(build_server(Runtime(settings, url)), cache=None) as connected:
        yield connected


async def refusal(client: Client, url: str, tool: str, arguments: dict) -> str:
    """The error text of a refused call, after checking that nothing was written."""
    before = row_counts(url)
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert row_counts(url) == before
    [part] = result.content
    return part.text


async def test_every_tool_declares_all_four_hints_and_refuses_unknown_names(client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations is not None, tool.name
        assert None not in [getattr(tool.annotations, hint) for hint in HINTS], tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    readers = {name for name, tool in tools.items() if tool.annotations.read_only_hint}
    assert readers == {"ping", "hybrid_search", "get_golden_test_results"}
    assert tools["update_working_memory"].annotations.destructive_hint  # it may evict an item
    # Only the evaluation tools reach outside the memory: they call the configured models.
    outside = {name for name, tool in tools.items() if tool.annotations.open_world_hint}
    assert outside == {"evaluate_answer", "store_dual_judge_scores"}


async def test_the_tools_marked_read_only_write_nothing(client, migrated_database):
    _, url = migrated_database
    tools = (await client.list_tools()).tools
    readers = {tool.name for tool in tools if tool.annotations and tool.annotations.read_only_hint}
    assert readers == {"ping", "hybrid_search", "get_golden_test_results"}
    said = {"session_id": "s", "speaker": "u", "content": "backups at night"}
    turn = (await client.call_tool("store_raw_dialogue", said)).structured_content
    insight = {"content": "Backups run at night", "source_ids": [turn["id"]]}
    assert not (await client.call_tool("compress_to_l2_insight", insight)).is_error
    before = row_counts(url)
    assert not (await client.call_tool("ping", {})).is_error
    assert not (await client.call_tool("hybrid_search", {"query_text": "backups"})).is_error
    assert not (await client.call_tool("get_golden_test_results", {})).is_error
    assert row_counts(url) == before


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("hybrid_search", {"query_text": "x", "top_k": True},
         "top_k must be an integer; got true (a boolean)"),
        ("hybrid_search", {"query_text": "x", "top_k": "5"},
         'top_k must be an integer; got "5" (a string)'),
        ("hybrid_search", {"query_text": "x", "top_k": 0},
         "top_k must be between 1 and 100; got 0"),
        ("update_working_memory", {"content": "x", "importance": "0.9"},
         'importance must be a number; got "0.9" (a string)'),
        ("compress_to_l2_insight", {"content": "x", "source_ids": "[1]"},
         'source_ids must be an array; got "[1]" (a string)'),
        ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "x" * 100_001},
         "content must have at most 100000 characters; got 100001 characters"),
        ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "x", "metadata": 1},
         "metadata must be an object; got 1 (an integer)"),
        ("hybrid_search", {"query": "x", "limit": 3},
         'unknown arguments "query", "limit"; accepted: min_similarity, query_embedding, '
         "query_text, top_k, weights. query_text is required"),
        ("hybrid_search", {"query_text": "x", "weights": {"semantic": 1, "keywords": 0}},
         'weights has unknown key "keywords"; accepted: keyword, semantic'),
    ],
)  # fmt: skip
async def test_loose_or_unknown_arguments_are_refused_in_one_readable_line(
    client, migrated_database, tool, arguments, message
):
    _, url = migrated_database
    assert await refusal(client, url, tool, arguments) == message


async def test_a_tools_own_refusal_reaches_the_client_without_the_sdk_prefix(
    client, migrated_database
):
    _, url = migrated_database
    arguments = {"content": "x", "source_ids": [424242]}
    text = await refusal(client, url, "compress_to_l2_insight", arguments)
    assert text == "Unknown source ids (not in l0_raw): 424242; nothing was stored"


async def test_a_new_tool_is_strict_and_readable_without_doing_anything():
    def add(x: int, y: int = 1) -> int:
        """Add two integers."""
        return x + y

    server = MCPServer("t", tools=strict_tools.build([add]))
    async with Client(server) as client:
        [tool] = (await client.list_tools()).tools
        assert tool.input_schema["additionalProperties"] is False
        assert tool.annotations is None  # undeclared: clients assume the cautious defaults
        assert (await client.call_tool("add", {"x": 2})).structured_content == {"result": 3}
        refused = await client.call_tool("add", {"x": False, "z": 1})
        assert refused.is_error
        assert refused.content[0].text == (
            'unknown argument "z"; accepted: x, y. x must be an integer; got false (a boolean)'
        )


@pytest.mark.parametrize(
    ("content", "warned"),
    [
        ("Backups run at 02:00 to 10.0.0.5", False),  # numbers, addresses, times are facts
        ("Deploy at 03:30 UTC on 2024-05-01", False),
        ("it is what it is and it is so", True),  # still warns on filler
    ],
)
async def test_the_low_density_warning_counts_numbers_ips_and_times_as_content(
    client, content, warned
):
    turn = await client.call_tool(
        "store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": content}
    )
    stored = await client.call_tool(
        "compress_to_l2_insight",
        {"content": content, "source_ids": [turn.structured_content["id"]]},
    )
    assert (stored.structured_content["warning"] is not None) is warned


@pytest.mark.parametrize("enabled", [False, True], ids=["evaluation-off", "evaluation-on"])
async def test_a_tool_that_cannot_work_here_says_so_in_its_description(migrated_database, enabled):
    settings, url = migrated_database
    evaluation = settings.evaluation.model_copy(update={"enabled": enabled})
    settings = settings.model_copy(update={"evaluation": evaluation})
    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        tools = {tool.name: tool.description for tool in (await client.list_tools()).tools}
    says_unavailable = {name for name, text in tools.items() if "Not available in this" in text}
    assert says_unavailable == (
        set() if enabled else {"evaluate_answer", "store_dual_judge_scores"}
    )
