"""Past the head of a page, near-duplicates give way to different hits (memory/diversity.py):
through the official MCP client with the configured defaults, and the statement's
similarities against cosines computed here. Real embedded PostgreSQL + pgvector.
"""

from __future__ import annotations

import math

import pytest

from mcp_server.memory import l2
from tests.integration.test_index_words import remember
from tests.integration.test_memory_repositories import add_insight, embed, query
from tests.support.mcp import call, connect

pytestmark = pytest.mark.anyio

# One exchange said again and again, and a different turn on the same subject that scores
# just below every repeat (more words: a lower BM25 and cosine).
REPEATS = [f"We went hiking in the hills again, photo {n}" for n in range(12)]
DIFFERENT = "Hiking in the hills: rain, fog and a blister"
QUERY = "hiking in the hills"


async def test_a_page_of_ten_shows_a_different_hit_where_the_eleventh_repeat_stood(
    migrated_database,
):
    async with connect(*migrated_database) as client:
        repeats = [await remember(client, "walks", "Ann", text) for text in REPEATS]
        different = await remember(client, "walks", "Ann", DIFFERENT)
        page = (await call(client, "hybrid_search", query_text=QUERY, top_k=10))["results"]
        head = (await call(client, "hybrid_search", query_text=QUERY, top_k=5))["results"]
    ids = [hit["id"] for hit in page]
    assert different in ids
    scores = [hit["score"] for hit in page]
    # It scores below every repeat shown: by score alone the page would be repeats only.
    [below] = [hit["score"] for hit in page if hit["id"] == different]
    assert below < min(hit["score"] for hit in page if hit["id"] != different)
    assert set(ids) - {different} <= set(repeats) and len(ids) == 10
    # The head is the best five by score, as a page of five shows them.
    assert ids[:5] == [hit["id"] for hit in head]
    assert scores[:5] == sorted(scores[:5], reverse=True)


async def test_without_a_diversity_weight_or_under_rrf_the_page_is_by_score(conn):
    different = "Hiking the hills in the rain: a blister and a broken tent pole"
    for text in [*REPEATS, different]:
        await l2.insert_insight(
            conn, content=text, embedding=await embed(text), embedding_model="hashing",
            source_ids=[], fidelity_score=1.0, text_search_config="english",
        )  # fmt: skip
    settings = {"semantic_weight": 0.5, "keyword_weight": 0.5, "text_search_config": "english"}
    asked = query(QUERY, await embed(QUERY), top_k=10, **settings)
    plain = await l2.hybrid_search(conn, **asked)
    diverse = await l2.hybrid_search(conn, **asked, diversity=1.0)
    assert [hit.score for hit in plain] == sorted((hit.score for hit in plain), reverse=True)
    assert different not in [hit.content for hit in plain]
    assert different in [hit.content for hit in diverse]
    assert [hit.content for hit in diverse][:5] == [hit.content for hit in plain][:5]
    # RRF scores (about 0.01) are not on the cosine scale of the penalty: no diversity.
    rrf = {"fusion": "rrf", "semantic_weight": 0.5, "keyword_weight": 0.5}
    by_rank = await l2.hybrid_search(conn, **(asked | rrf))
    assert await l2.hybrid_search(conn, **(asked | rrf), diversity=1.0) == by_rank


async def test_the_statement_gives_each_hit_past_the_head_its_cosine_with_those_above(conn):
    texts = ["red apples", "green apples", "apples and pears", "a bowl of apples"]
    vectors = {text: await embed(text) for text in texts}
    for text in texts:
        await add_insight(conn, text)
    await add_insight(conn, "apples in another model", embedding=[1.0, 0.0, 0.0])
    statement, params = l2.hybrid_query(
        **query("apples", await embed("apples"), top_k=3, diversity=0.2, diversify_after=1)
    )
    cursor = await conn.execute(statement, params)
    names = [column.name for column in cursor.description]
    found = [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
    assert len(found) == 5  # the pool: 3 x top_k, here every insight
    assert found[0]["similarities"] is None  # the head: never asked
    order = [row["content"] for row in found]
    for position, row in enumerate(found[1:], start=1):
        assert len(row["similarities"]) == position
        for above, similarity in zip(order[:position], row["similarities"], strict=True):
            if "another model" in row["content"] or "another model" in above:
                assert similarity is None  # not of this model's dimension
            else:
                expected = cosine(vectors[row["content"]], vectors[above])
                assert similarity == pytest.approx(expected, abs=1e-5)


def test_a_page_no_longer_than_its_head_costs_nothing_more_and_a_long_one_no_more_than_ten():
    vector = [0.1] * 8
    statement, _ = l2.hybrid_query(**query("apples", vector, top_k=5, diversity=0.2))
    text = statement.as_string(None)
    assert "vectors AS" not in text and "LIMIT 5\n" in text
    statement, _ = l2.hybrid_query(**query("apples", vector, top_k=6, diversity=0.2))
    text = statement.as_string(None)
    assert "vectors AS" in text and "LIMIT 18\n" in text
    # A long page: its cosines stop at the 30 hits the first ten ranks are chosen from.
    statement, _ = l2.hybrid_query(**query("apples", vector, top_k=100, diversity=0.2))
    text = statement.as_string(None)
    assert "LIMIT 100\n" in text and "position <= 30\n" in text


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
