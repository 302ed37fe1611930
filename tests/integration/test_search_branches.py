"""A search's two branches on two connections at once (l2.hybrid_search with a `spare`):
the same hits, scores and order as the one statement, on the real embedded PostgreSQL.
"""

from __future__ import annotations

import psycopg
import pytest

from mcp_server.app_context import AppContext
from mcp_server.db.connection import make_pool
from mcp_server.memory import l2
from mcp_server.providers.hashing import HashingEmbedder
from tests.conftest import vector_connection
from tests.integration.test_answers import turn_and_insight
from tests.integration.test_memory_repositories import add_insight, embed, query
from tests.support.mcp import call, connect

pytestmark = pytest.mark.anyio

TURNS = [
    ("trip", "Where did you go hiking last summer?"),
    ("trip", "We hiked the ridge above the lake in July"),
    ("trip", "The lake was cold but we swam anyway"),
    ("paint", "What inspired your painting of the harbour?"),
    ("paint", "The boats at dawn, the light on the water"),
    ("paint", "I painted it again in winter"),
    ("work", "The deploy failed because the disk was full"),
    ("work", "We moved the backups to the other volume"),
]
SEARCHES = [
    {},
    {"diversity": 0.2, "diversify_after": 1, "top_k": 6},
    {"answer_boost": 0.2},
    {"answer_boost": 0.2, "diversity": 0.2, "diversify_after": 2, "top_k": 8},
    {"fusion": "rrf"},
    {"semantic_weight": 1.0, "keyword_weight": 0.0},
    {"semantic_weight": 0.0, "keyword_weight": 1.0},
    {"keyword_match": "all"},
    {"top_k": 20, "candidates": 10},
]
QUESTIONS = [
    "what inspired the painting",
    "lake",
    "why did the deploy fail",
    "nothing here matches",
    "the",  # a stop word: no keyword branch at all
]


@pytest.fixture
async def spare(migrated_database):
    """A second connection to the database `conn` is on."""
    async with vector_connection(migrated_database[1]) as connection:
        yield connection


async def store(conn) -> None:
    for session, text in TURNS:
        await turn_and_insight(conn, session, text)
    # A row of another embedding dimension: the keyword branch finds it, without a cosine.
    await add_insight(conn, "the lake in another model", embedding=[1.0, 0.0, 0.0])
    await conn.execute("ANALYZE l2_insights")


@pytest.mark.parametrize("overrides", SEARCHES, ids=lambda o: ",".join(o) or "defaults")
async def test_two_branches_at_once_find_what_one_statement_finds(conn, spare, overrides):
    await store(conn)
    found = []
    for text in QUESTIONS:
        arguments = query(text, await embed(text), text_search_config="english", **overrides)
        alone = await l2.hybrid_search(conn, **arguments)
        beside = await l2.hybrid_search(conn, spare=spare, **arguments)
        assert beside == alone, text  # every field: ids, ranks, scores to the last bit
        found += alone
    assert any(hit.semantic_rank for hit in found) or overrides.get("keyword_weight") == 1.0
    assert any(hit.keyword_rank for hit in found) or overrides.get("semantic_weight") == 1.0


async def test_an_empty_store_finds_nothing_either_way(conn, spare):
    arguments = query("lake", await embed("lake"))
    assert await l2.hybrid_search(conn, spare=spare, **arguments) == []
    assert await l2.hybrid_search(conn, **arguments) == []


async def test_a_failing_branch_raises_after_both_have_ended(conn, spare):
    await store(conn)
    arguments = query("lake", await embed("lake"), text_search_config="no_such_config")
    with pytest.raises(psycopg.errors.UndefinedObject):
        await l2.hybrid_search(conn, spare=spare, **arguments)
    # Neither connection is left running a statement or inside a failed transaction.
    for connection in (conn, spare):
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert await (await connection.execute("SELECT 1")).fetchone() == (1,)


@pytest.fixture
async def app(migrated_database):
    """An AppContext over a pool of three connections, all open."""
    settings, url = migrated_database
    sized = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"pool_min_size": 3, "pool_max_size": 3}
            )
        }
    )
    pool = make_pool(sized, url)
    await pool.open(wait=True)
    try:
        yield AppContext(settings=sized, pool=pool, embedder=HashingEmbedder())
    finally:
        await pool.close()


async def test_a_spare_connection_is_lent_only_to_the_one_search_in_flight(app, monkeypatch):
    monkeypatch.setattr(l2, "SPLIT_FROM", 0)  # every store is large enough
    async with app.connection() as first, app.spare_connection(first) as spare:
        assert spare is not None and spare is not first
        # A second search meanwhile: a connection is idle, but the cores are shared.
        async with app.connection() as second, app.spare_connection(second) as other:
            assert other is None
    lent = (app.connection(), app.connection(), app.connection())
    async with lent[0] as conn, lent[1], lent[2], app.spare_connection(conn) as none_idle:
        assert none_idle is None  # every connection is lent: no waiting for one
    async with app.connection() as conn, app.spare_connection(conn) as again:
        assert again is not None  # all returned: lent again
    assert app.searches == 0


async def test_a_small_store_searches_in_one_statement(app):
    async with app.connection() as conn:
        await add_insight(conn, "one insight")
        await conn.execute("ANALYZE l2_insights")
        async with app.spare_connection(conn) as spare:
            assert spare is None
        assert await app.insights(conn) == 1  # the planner's count, kept for a while


async def test_the_tool_splits_a_large_store_and_finds_the_same(migrated_database, monkeypatch):
    settings, url = migrated_database
    spares = []
    search = l2.hybrid_search

    async def recorded(conn, **arguments):
        spares.append(arguments.get("spare") is not None)
        return await search(conn, **arguments)

    monkeypatch.setattr(l2, "hybrid_search", recorded)
    async with connect(settings, url) as client:
        for session, text in TURNS:
            turn = await call(client, "store_raw_dialogue", session_id=session, speaker="Ann",
                              content=text)  # fmt: skip
            await call(client, "compress_to_l2_insight", content=text, source_ids=[turn["id"]])
        pages = {}
        for split_from in (10**9, 0):  # a small store, then every store counts as large
            monkeypatch.setattr(l2, "SPLIT_FROM", split_from)
            pages[split_from] = [
                await call(client, "hybrid_search", query_text=text, top_k=6) for text in QUESTIONS
            ]
    assert spares == [False] * len(QUESTIONS) + [True] * len(QUESTIONS)
    assert pages[0] == pages[10**9]
