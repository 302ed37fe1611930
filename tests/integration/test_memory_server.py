"""Tools and resources through the official MCP client, in memory, on the real database."""

from __future__ import annotations

import json

import psycopg
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from mcp_server.runtime import Runtime
from mcp_server.server import build_server
from tests.support.mcp import call, connect
from tests.support.memory_schema import TOOLS, row_counts

pytestmark = pytest.mark.anyio


def with_section(settings, section: str, **values):
    return settings.model_copy(
        update={section: getattr(settings, section).model_copy(update=values)}
    )


@pytest.fixture
def database(migrated_database):
    """Settings (working memory capacity 3) and URL of a migrated test database."""
    settings, url = migrated_database
    return with_section(settings, "working_memory", capacity=3), url


@pytest.fixture
async def client(database):
    async with connect(*database) as connected:
        yield connected


async def refused(client: Client, tool: str, **arguments) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def read(client: Client, uri: str) -> dict:
    [content] = (await client.read_resource(uri)).contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)


# Listing ----------------------------------------------------------------------------------


async def test_every_tool_has_described_parameters_and_an_output_schema(client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.output_schema, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name}"


async def test_five_resource_templates_serve_json(client):
    templates = (await client.list_resource_templates()).resource_templates
    assert sorted(t.uri_template for t in templates) == [
        "memory://episode-memory{?query,min_similarity}",
        "memory://l0-raw{?session_id,date_range,limit}",
        "memory://l2-insights{?query,top_k}",
        "memory://stale-memory{?importance_min,limit}",
        "memory://working-memory{?limit}",
    ]
    assert {t.mime_type for t in templates} == {"application/json"}


async def test_ping_names_the_embedder(client):
    result = await call(client, "ping")
    assert result["status"] == "ok"
    assert (result["embedding_provider"], result["environment"]) == ("hashing", "development")


# The memory round trip --------------------------------------------------------------------


async def test_dialogue_to_insight_to_search(client, database):
    _, url = database
    turn = await call(
        client,
        "store_raw_dialogue",
        session_id="s1",
        speaker="user",
        content="I deploy with pyinfra to Debian trixie",
        metadata={"tool": "claude-code"},
    )
    other = await call(
        client, "store_raw_dialogue", session_id="s1", speaker="assistant", content="Noted."
    )
    insight = await call(
        client,
        "compress_to_l2_insight",
        content="User deploys with pyinfra onto Debian trixie hosts",
        source_ids=[turn["id"], other["id"]],
    )
    assert insight["embedding_model"] == "hashing-lexical-v1"
    assert insight["fidelity_score"] >= 0.5 and insight["warning"] is None
    await call(
        client,
        "compress_to_l2_insight",
        content="Lunch preferences: pasta",
        source_ids=[turn["id"]],
    )

    found = await call(client, "hybrid_search", query_text="pyinfra", top_k=5)
    first = found["results"][0]
    assert first["id"] == insight["id"]
    assert first["keyword_rank"] == 1 and first["semantic_rank"] == 1
    assert first["source_ids"] == sorted([turn["id"], other["id"]])
    assert found["embedding_provider"] == "hashing"
    settings, _ = database
    assert found["weights"] == settings.search.weights.model_dump()  # the configured ones

    resource = await read(client, "memory://l2-insights?query=pyinfra&top_k=1")
    assert [r["id"] for r in resource["results"]] == [insight["id"]]
    recent = await read(client, "memory://l2-insights")
    assert len(recent["results"]) == 2
    assert row_counts(url)["l2_insights"] == 2


async def test_search_with_a_caller_supplied_embedding(client):
    turn = await call(client, "store_raw_dialogue", session_id="s", speaker="u", content="x")
    await call(client, "compress_to_l2_insight", content="vectors", source_ids=[turn["id"]])
    vector = [1.0] + [0.0] * 383
    found = await call(client, "hybrid_search", query_text="vectors", query_embedding=vector)
    assert found["embedding_provider"] == "caller"
    assert len(found["results"]) == 1


async def test_low_density_insights_are_stored_with_a_warning(client):
    turn = await call(client, "store_raw_dialogue", session_id="s", speaker="u", content="x")
    stored = await call(
        client, "compress_to_l2_insight", content="ok ok ok it is ok", source_ids=[turn["id"]]
    )
    assert stored["fidelity_score"] < 0.5
    assert "Low information density" in stored["warning"]


async def test_working_memory_overflow_shows_up_in_stale_memory(client):
    ids = [
        (await call(client, "update_working_memory", content=f"item {i}", importance=0.5))["id"]
        for i in range(3)
    ]
    update = await call(client, "update_working_memory", content="item 3", importance=0.9)
    assert update["evicted_id"] == ids[0]
    held = await read(client, "memory://working-memory?limit=10")
    assert held["capacity"] == 3
    assert [item["content"] for item in held["items"]] == ["item 3", "item 2", "item 1"]
    stale = await read(client, "memory://stale-memory?importance_min=0.5&limit=5")
    assert [(i["original_id"], i["content"]) for i in stale["items"]] == [(ids[0], "item 0")]
    assert "least recently used" in stale["items"][0]["reason"]
    assert (await read(client, "memory://stale-memory?importance_min=0.6"))["items"] == []


async def test_episodes_are_found_by_similarity(client):
    stored = await call(
        client,
        "store_episode",
        query="how to deploy postgres",
        reward=-0.5,
        reflection="Check the pgvector package first",
    )
    await call(client, "store_episode", query="pasta recipe", reward=1, reflection="More salt")
    found = await read(client, "memory://episode-memory?query=how%20to%20deploy%20postgres")
    assert [e["id"] for e in found["episodes"]] == [stored["id"]]
    assert found["episodes"][0]["similarity"] == pytest.approx(1.0)
    loose = await read(client, "memory://episode-memory?query=deploy&min_similarity=-1")
    assert len(loose["episodes"]) == 2
    assert len((await read(client, "memory://episode-memory"))["episodes"]) == 2


async def test_l0_resource_filters_by_session_and_day(client, database):
    _, url = database
    turn = await call(client, "store_raw_dialogue", session_id="a", speaker="u", content="one")
    await call(client, "store_raw_dialogue", session_id="b", speaker="u", content="two")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE l0_raw SET created_at = '2024-05-01 12:00+00' WHERE id = %s", [turn["id"]]
        )
    day = await read(client, "memory://l0-raw?date_range=2024-05-01:2024-05-01")
    assert [t["id"] for t in day["turns"]] == [turn["id"]]
    assert (await read(client, "memory://l0-raw?date_range=2024-05-02:2024-05-31"))["turns"] == []
    session = await read(client, "memory://l0-raw?session_id=b&limit=1")
    assert [t["content"] for t in session["turns"]] == ["two"]


async def test_evaluation_tools_refuse_until_configured(client):
    message = await refused(client, "store_dual_judge_scores", query_id="q1", query="q",
                            docs=["doc"])  # fmt: skip
    assert "not configured: evaluation is not enabled: set evaluation.enabled: true" in message
    assert "not configured" in await refused(client, "evaluate_answer", query="q", answer="a")


# Bad input: a clear tool error, nothing written, the server keeps serving ----------------

TURN = {"session_id": "s", "speaker": "u", "content": "x"}
BAD_CALLS = [
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": ""}, "blank"),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "   "}, "blank"),
    (
        "store_raw_dialogue",
        {"session_id": "s", "speaker": "u", "content": "x" * 1_000_000},
        "content must have at most 100000 characters; got 1000000 characters",
    ),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "a\x00b"}, "NUL"),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "\ud800"}, "surrogate"),
    (
        "store_raw_dialogue",
        {"session_id": 7, "speaker": "u", "content": "x"},
        "session_id must be a string; got 7",
    ),
    (
        "store_raw_dialogue",
        {"session_id": "s", "speaker": "u", "content": "x", "metadata": {"k": "\x00"}},
        "NUL",
    ),
    (
        "store_raw_dialogue",
        {"session_id": "s", "speaker": "u", "content": "x", "metadata": ["not", "an", "object"]},
        "metadata must be an object",
    ),
    ("compress_to_l2_insight", {"content": "x", "source_ids": []}, "source_ids must not be empty"),
    (
        "compress_to_l2_insight",
        {"content": "x", "source_ids": ["one"]},
        "source_ids[0] must be an integer",
    ),
    (
        "compress_to_l2_insight",
        {"content": "x", "source_ids": [0]},
        "source_ids[0] must be between 1 and",
    ),
    ("hybrid_search", {"query_text": "x", "top_k": 0}, "top_k must be between 1 and 100; got 0"),
    (
        "hybrid_search",
        {"query_text": "x", "top_k": 101},
        "top_k must be between 1 and 100; got 101",
    ),
    (
        "hybrid_search",
        {"query_text": "x", "weights": {"semantic": 0.5, "keyword": 0.6}},
        "sum to 1",
    ),
    (
        "hybrid_search",
        {"query_text": "x", "weights": {"semantic": 1.5, "keyword": -0.5}},
        "weights.semantic must be between 0 and 1; got 1.5",
    ),
    ("hybrid_search", {"query_text": "x", "query_embedding": [0.5, 0.5]}, "384"),
    ("hybrid_search", {"query_text": "x", "query_embedding": [0.0] * 384}, "all zeros"),
    ("hybrid_search", {"query_text": "x", "query_embedding": [1e-155] * 384}, "all zeros"),
    (
        "hybrid_search",
        {"query_text": "x", "query_embedding": [1e300] * 384},
        "query_embedding[0] must be between -1000000 and 1000000",
    ),
    ("hybrid_search", {"query_text": ""}, "blank"),
    (
        "update_working_memory",
        {"content": "x", "importance": 1.5},
        "importance must be between 0 and 1; got 1.5",
    ),
    (
        "update_working_memory",
        {"content": "x", "importance": "high"},
        'importance must be a number; got "high"',
    ),
    (
        "store_episode",
        {"query": "q", "reward": -2, "reflection": "r"},
        "reward must be between -1 and 1; got -2",
    ),
    ("store_episode", {"query": "q", "reward": 0, "reflection": ""}, "blank"),
    ("store_dual_judge_scores", {"query": "q", "docs": []}, "docs must not be empty"),
    (
        "store_dual_judge_scores",
        {"query": "q", "docs": ["d"] * 51},
        "docs must have at most 50 items; got 51 items",
    ),
    (
        "store_dual_judge_scores",
        {"query": "q", "docs": [{"id": 1}]},
        'docs[0].text must be a string; got {"id": 1} (an object)',
    ),
    ("store_dual_judge_scores", {"query": "q", "docs": [0]}, "docs[0].id must be at least 1"),
    ("store_dual_judge_scores", {"query": "q", "docs": [True]}, "docs[0].id must be an integer"),
    ("evaluate_answer", {"query": "q", "answer": ""}, "answer must not be blank"),
    ("evaluate_answer", {"query": "q", "answer": "a", "memory_ids": [0]}, "memory_ids[0] must be"),
    ("get_golden_test_results", {"days": 0}, "days must be"),
    *(
        ("store_raw_dialogue", {**TURN, "occurred_at": when}, message)
        for when, message in [
            ("yesterday", "occurred_at must be an ISO 8601 date or date and time"),
            ("2023-02-30T10:00:00Z", "occurred_at must be an ISO 8601 date"),
            ("2999-01-01T00:00:00Z", "occurred_at must not be in the future"),
            (20230508, "occurred_at must be a string"),
        ]
    ),
]


@pytest.mark.parametrize(("tool", "arguments", "fragment"), BAD_CALLS)
async def test_bad_input_is_a_clear_error_and_writes_nothing(
    client, database, tool, arguments, fragment
):
    _, url = database
    before = row_counts(url)
    message = await refused(client, tool, **arguments)
    assert fragment in message
    assert row_counts(url) == before
    assert (await call(client, "ping"))["status"] == "ok"


async def test_unknown_source_ids_are_named_and_nothing_is_stored(client, database):
    _, url = database
    turn = await call(client, "store_raw_dialogue", session_id="s", speaker="u", content="x")
    missing = [turn["id"] + 100, turn["id"] + 5]
    message = await refused(
        client, "compress_to_l2_insight", content="insight", source_ids=[turn["id"], *missing]
    )
    assert f"Unknown source ids (not in l0_raw): {turn['id'] + 5}, {turn['id'] + 100}" in message
    assert row_counts(url)["l2_insights"] == 0


async def test_sql_looking_text_is_stored_verbatim_and_harmless(client, database):
    _, url = database
    text = "'; DROP TABLE l0_raw; -- %(content)s {dim} $1 \\x00"
    turn = await call(client, "store_raw_dialogue", session_id=text, speaker=text, content=text)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT session_id, content FROM l0_raw WHERE id = %s", [turn["id"]])
        assert row.fetchone() == (text, text)
    found = await call(client, "hybrid_search", query_text=text)
    assert found["results"] == []


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("memory://l0-raw?date_range=2024-01-01", "must look like 2024-01-01:2024-01-31"),
        ("memory://l0-raw?date_range=2024-02-30:2024-03-01", "date_range"),
        ("memory://l0-raw?date_range=2024-03-02:2024-03-01", "starts after it ends"),
        ("memory://l0-raw?limit=0", 'limit must be between 1 and 1000; got "0"'),
        ("memory://working-memory?limit=10000", 'limit must be between 1 and 1000; got "10000"'),
        ("memory://working-memory?limit=ten", 'limit must be an integer; got "ten"'),
        ("memory://stale-memory?importance_min=2", "importance_min"),
        ("memory://l2-insights?top_k=101", "top_k"),
        ("memory://episode-memory?query=x&min_similarity=nan", "min_similarity"),
        ("memory://l2-insights?query=%00", "NUL"),
    ],
)
async def test_bad_resource_parameters_are_invalid_params_errors(client, uri, fragment):
    with pytest.raises(MCPError) as error:
        await client.read_resource(uri)
    assert error.value.code == INVALID_PARAMS
    assert fragment in error.value.message
    assert (await call(client, "ping"))["status"] == "ok"


async def test_a_lost_database_is_a_clear_error_not_a_crash(database, cluster_admin_url):
    settings, url = database
    settings = with_section(settings, "database", connect_timeout_s=1)
    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        await call(client, "store_raw_dialogue", session_id="s", speaker="u", content="x")
        with psycopg.connect(cluster_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{settings.database.name}" WITH (FORCE)')
        message = await refused(
            client, "store_raw_dialogue", session_id="s", speaker="u", content="y"
        )
        assert "The database is unavailable" in message
        with pytest.raises(MCPError, match="The database is unavailable"):
            await client.read_resource("memory://working-memory")
