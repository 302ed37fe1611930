"""hybrid_search through the official client: no filler for unrelated queries, and what
full-text search cannot see (an emoji, one CJK character) is still found."""

from __future__ import annotations

import pytest
from mcp import Client

from mcp_server.runtime import Runtime
from mcp_server.server import build_server

pytestmark = pytest.mark.anyio

INSIGHTS = {
    "backup": "Backups run nightly at 02:00 to the host 10.0.0.5",
    "cat": "The cat 🐱 sleeps on the keyboard during stand-ups",
    "tokyo": "東京タワーに行った (we visited Tokyo Tower)",
    "database": "We decided to use PostgreSQL 17 with pgvector for the appliance",
}


@pytest.fixture
async def search(migrated_database):
    """(search, ids): a function returning the found ids, and the id of each insight."""
    settings, url = migrated_database
    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        ids = {}
        for key, text in INSIGHTS.items():
            turn = await client.call_tool(
                "store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": text}
            )
            stored = await client.call_tool(
                "compress_to_l2_insight",
                {"content": text, "source_ids": [turn.structured_content["id"]]},
            )
            ids[key] = stored.structured_content["id"]

        async def found(query: str, **arguments) -> list[int]:
            result = await client.call_tool("hybrid_search", {"query_text": query, **arguments})
            assert not result.is_error, result.content
            return [hit["id"] for hit in result.structured_content["results"]]

        yield found, ids


async def test_an_unrelated_query_finds_nothing_unless_the_floor_is_lowered(search):
    found, _ = search
    assert await found("quantum chromodynamics lecture notes") == []
    # The nearest neighbours are there: it is the floor that hides them.
    assert await found("quantum chromodynamics lecture notes", min_similarity=-1)


async def test_a_related_query_still_finds_its_insight_first(search):
    found, ids = search
    assert (await found("when do the backups run"))[0] == ids["backup"]


@pytest.mark.parametrize(("query", "key"), [("🐱", "cat"), ("東", "tokyo"), ("タワー", "tokyo")])
async def test_an_emoji_or_a_single_cjk_character_finds_the_insight_holding_it(search, query, key):
    found, ids = search
    assert await found(query) == [ids[key]]
