"""The memory repositories on the real embedded PostgreSQL + pgvector: plain SQL, real plans."""

from __future__ import annotations

import datetime as dt

import anyio
import psycopg
import pytest
from pgvector.psycopg import register_vector_async

from mcp_server.db.connection import make_pool
from mcp_server.memory import episodes, l0, l2, stale, working
from mcp_server.providers.hashing import HashingEmbedder

pytestmark = pytest.mark.anyio
DIM = 384
UTC = dt.UTC


async def embed(text: str) -> list[float]:
    [vector] = await HashingEmbedder(dimension=DIM).embed([text])
    return vector


async def add_insight(
    conn, content: str, embedding: list[float] | None = None, context: str = ""
) -> int:
    row_id, _ = await l2.insert_insight(
        conn,
        content=content,
        context=context,
        embedding=embedding or await embed(content),
        embedding_model="hashing-lexical-v1",
        source_ids=[],
        fidelity_score=1.0,
        text_search_config="simple",
    )
    return row_id


def query(text: str, embedding: list[float], **overrides) -> dict:
    """hybrid_query/hybrid_search arguments with the configured defaults."""
    defaults = dict(
        top_k=5,
        semantic_weight=0.7,
        keyword_weight=0.3,
        rrf_k=60,
        candidates=100,
        text_search_config="simple",
    )
    return {"query_text": text, "embedding": embedding, **defaults, **overrides}


async def plan(conn, statement, params) -> str:
    """EXPLAIN with sequential scans priced out, to prove an index matches the query."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await (
            await conn.execute(psycopg.sql.SQL("EXPLAIN ") + statement, params)
        ).fetchall()
    return "\n".join(row[0] for row in rows)


async def scalar(conn, query: str, params=None):
    return (await (await conn.execute(query, params)).fetchone())[0]


# L0 ---------------------------------------------------------------------------------------


async def test_turns_are_stored_verbatim_with_metadata(conn):
    content = "Robert'); DROP TABLE l0_raw;-- und Grüße 🚀"
    row_id, created_at = await l0.insert_turn(conn, "s1", "user", content, {"lang": "de"})
    [turn] = await l0.list_turns(conn, session_id="s1", since=None, until=None, limit=10)
    assert turn["id"] == row_id
    assert turn["content"] == content
    assert turn["metadata"] == {"lang": "de"}
    assert turn["created_at"] == created_at


async def test_turns_filter_by_session_and_half_open_date_range(conn):
    days = {1: "2024-03-01 23:59:59+00", 2: "2024-03-02 00:00:00+00", 3: "2024-03-03 12:00+00"}
    ids = {}
    for day, stamp in days.items():
        ids[day], _ = await l0.insert_turn(conn, "s", "user", f"day {day}", {})
        await conn.execute("UPDATE l0_raw SET created_at = %s WHERE id = %s", [stamp, ids[day]])
    await l0.insert_turn(conn, "other", "user", "elsewhere", {})

    def window(start, end):
        return {"since": dt.datetime(*start, tzinfo=UTC), "until": dt.datetime(*end, tzinfo=UTC)}

    found = await l0.list_turns(
        conn, session_id="s", limit=10, **window((2024, 3, 2), (2024, 3, 3))
    )
    assert [t["id"] for t in found] == [ids[2]]
    everything = await l0.list_turns(conn, session_id="s", since=None, until=None, limit=10)
    assert [t["id"] for t in everything] == [ids[3], ids[2], ids[1]]  # newest first
    assert len(await l0.list_turns(conn, session_id=None, since=None, until=None, limit=2)) == 2


async def test_missing_ids_names_exactly_the_unknown_ones(conn):
    known, _ = await l0.insert_turn(conn, "s", "user", "hello", {})
    assert await l0.missing_ids(conn, [known]) == []
    assert await l0.missing_ids(conn, [known + 7, known, known + 2]) == [known + 2, known + 7]


async def test_an_insight_is_found_by_the_words_of_its_context(conn):
    answer = await add_insight(conn, "Yes, it was great!", context="Did you go climbing?")
    await add_insight(conn, "Lunch was pasta with tomatoes")
    hits = await l2.hybrid_search(conn, **words_only("climbing"))
    assert [hit.id for hit in hits] == [answer]
    assert hits[0].content == "Yes, it was great!"  # the context is indexed, not returned


# L2 and hybrid search ---------------------------------------------------------------------


async def test_hybrid_search_reports_both_ranks_and_fuses_them(conn):
    both = await add_insight(conn, "The user deploys PostgreSQL with pyinfra on Debian")
    words = await add_insight(conn, "Debian is the target distribution for deploys")
    await add_insight(conn, "Lunch was pasta with tomatoes")
    hits = await l2.hybrid_search(
        conn, **query("pyinfra Debian", await embed("pyinfra Debian"), top_k=3)
    )
    assert [hit.id for hit in hits][:2] == [both, words]
    first = hits[0]
    assert (first.semantic_rank, first.keyword_rank) == (1, 1)
    # Score fusion: weighted cosine plus weighted BM25 relative to the best keyword match.
    assert first.score == pytest.approx(0.7 * first.semantic_score + 0.3 * 1.0)
    second = hits[1]
    assert second.score == pytest.approx(
        0.7 * second.semantic_score + 0.3 * second.keyword_score / first.keyword_score
    )
    assert first.semantic_score > second.semantic_score
    assert first.keyword_score > second.keyword_score > 0
    # The pasta insight shares no word and (hashing embedder) no direction: cosine 0, no
    # keyword match, so it scores 0 and is not returned as filler.
    assert len(hits) == 2
    rrf = await l2.hybrid_search(
        conn, **query("pyinfra Debian", await embed("pyinfra Debian"), top_k=3, fusion="rrf")
    )
    assert rrf[0].id == both and rrf[0].score == pytest.approx(0.7 / 61 + 0.3 / 61)
    # Ranks alone: the vector branch ranks every row, so RRF lifts the pasta insight too.
    assert rrf[2].keyword_rank is None and rrf[2].semantic_rank == 3


async def test_keyword_weight_one_returns_word_matches_only(conn):
    await add_insight(conn, "alpha beta gamma", await embed("zeta"))
    word_match = await add_insight(conn, "something about zeta", await embed("unrelated"))
    words_only = query("zeta", await embed("zeta"), top_k=2, semantic_weight=0, keyword_weight=1)
    hits = await l2.hybrid_search(conn, **words_only)
    assert [hit.id for hit in hits] == [word_match]


def words_only(text: str, **overrides) -> dict:
    """Keyword branch alone; the vector is irrelevant at semantic weight 0."""
    return query(text, [1.0] * DIM, semantic_weight=0, keyword_weight=1, **overrides)


async def test_a_question_finds_insights_that_share_only_some_of_its_words(conn):
    group = await add_insight(conn, "Caroline went to the LGBTQ support group on Sunday")
    await add_insight(conn, "Lunch was pasta with tomatoes")
    question = "When did Caroline go to the support group?"
    hits = await l2.hybrid_search(conn, **words_only(question))
    assert [hit.id for hit in hits] == [group]
    assert hits[0].keyword_rank == 1
    # Matching every word (websearch_to_tsquery, the former behaviour) finds nothing.
    assert await l2.hybrid_search(conn, **words_only(question, keyword_match="all")) == []


async def test_insights_with_more_of_the_query_words_rank_higher(conn):
    one = await add_insight(conn, "pyinfra runs the deploy")
    two = await add_insight(conn, "pyinfra deploys PostgreSQL on Debian")
    hits = await l2.hybrid_search(conn, **words_only("pyinfra PostgreSQL"))
    assert [hit.id for hit in hits] == [two, one]


async def common_words_table(conn) -> int:
    """40 insights sharing 'the', 'user' and 'said', one about pyinfra; ANALYZEd."""
    for i in range(40):
        await add_insight(conn, f"the user said the thing number {i} to the user")
    rare = await add_insight(conn, "the user deploys with pyinfra")
    await conn.execute("ANALYZE l2_insights")
    return rare


async def test_bm25_ranks_the_rare_word_first_in_a_small_store(conn, monkeypatch):
    monkeypatch.setattr(l2, "COMMON_MAJORITY", 1.1)  # no word is common by its majority
    rare = await common_words_table(conn)
    # 41 rows are below COMMON_ROWS: every row holding a query word matches, and idf puts
    # the one with the rare word first although the others repeat 'user' twice.
    hits = await l2.hybrid_search(conn, **words_only("did the user mention pyinfra", top_k=50))
    assert hits[0].id == rare and len(hits) == 41
    assert hits[0].keyword_score > 2 * hits[1].keyword_score


async def test_a_word_in_most_insights_is_left_out_of_the_match_in_a_small_store_too(conn):
    rare = await common_words_table(conn)
    # 'user' is in all 41 insights (COMMON_MAJORITY): matching it would score every row.
    hits = await l2.hybrid_search(conn, **words_only("did the user mention pyinfra", top_k=50))
    assert [hit.id for hit in hits] == [rare]
    # Alone, it still finds the insights that hold it (fewer than MATCH_LIMIT).
    assert len(await l2.hybrid_search(conn, **words_only("user", top_k=50))) == 41


@pytest.fixture
def small_common_limits(monkeypatch):
    """Common-word limits a 41-row table reaches (in production: 1 % and 1000 rows)."""
    monkeypatch.setattr(l2, "COMMON_ROWS", 10)
    monkeypatch.setattr(l2, "COMMON_SHARE", 0.5)


async def test_words_most_insights_share_are_left_out_of_the_keyword_match(
    conn, small_common_limits
):
    rare = await common_words_table(conn)
    # 'user' is in every insight: matching it would score all 41. Left out, only the insight
    # with the rare word matches.
    hits = await l2.hybrid_search(conn, **words_only("did the user mention pyinfra"))
    assert [hit.id for hit in hits] == [rare]


async def test_a_word_in_more_rows_than_the_match_limit_is_common_at_any_share(conn, monkeypatch):
    # In production from 200k insights on: 1 % of them is more rows than MATCH_LIMIT.
    monkeypatch.setattr(l2, "COMMON_ROWS", 10)
    monkeypatch.setattr(l2, "COMMON_SHARE", 1.1)  # no word is common by its share
    monkeypatch.setattr(l2, "MATCH_LIMIT", 20)
    rare = await common_words_table(conn)
    # 'user' is in 41 rows, more than the 20 a match may hold: left out of the match (else
    # the newest 20 would be scored, the rare word's row among them or not).
    hits = await l2.hybrid_search(conn, **words_only("did the user mention pyinfra", top_k=50))
    assert [hit.id for hit in hits] == [rare]


async def test_a_query_of_common_words_only_matches_insights_holding_all_of_them(
    conn, small_common_limits
):
    rare = await common_words_table(conn)
    hits = await l2.hybrid_search(conn, **words_only("user deploys", top_k=50))
    assert [hit.id for hit in hits] == [rare]  # 'deploys' is rare: any-word match
    hits = await l2.hybrid_search(conn, **words_only("the user said", top_k=50))
    assert len(hits) == 40 and rare not in {hit.id for hit in hits}


@pytest.mark.parametrize("text", ["?!", "   ", "it's a \\ & | ! <-> :* (x) 'quoted' \"q\""])
async def test_any_query_text_is_safe_and_wordless_text_matches_nothing(conn, text):
    await add_insight(conn, "it is quoted text with an x")
    hits = await l2.hybrid_search(conn, **words_only(text))
    if text.strip("?! "):
        assert hits and hits[0].keyword_rank == 1
    else:
        assert hits == []  # no words: no tsquery, no keyword rows, no error
    # The vector branch still answers.
    assert len(await l2.hybrid_search(conn, **query(text, await embed("quoted text")))) == 1


async def load_insights(conn, count: int) -> None:
    embedder = HashingEmbedder(dimension=DIM)
    texts = [f"note {i} about topic {i % 17} and item {i * 7919 % 1000}" for i in range(count)]
    vectors = await embedder.embed(texts)
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO l2_insights (content, embedding, embedding_model) "
            "VALUES (%s, %s::float4[]::vector, 'hashing-lexical-v1')",
            list(zip(texts, vectors, strict=True)),
        )


async def test_the_vector_branch_returns_every_candidate_because_ef_search_is_raised(conn):
    await load_insights(conn, 300)
    # No insight shares a word with the query: every result comes from the vector branch.
    wide = query("nothing shares this", await embed("topic 3"), top_k=100, candidates=100)
    hits = await l2.hybrid_search(conn, **wide)
    assert len(hits) == 100
    assert sorted(hit.semantic_rank for hit in hits) == list(range(1, 101))

    # The same statement at pgvector's default ef_search (40) silently returns fewer rows.
    statement, params = l2.hybrid_query(**wide)
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL hnsw.ef_search TO DEFAULT")
        rows = await (await conn.execute(statement, params)).fetchall()
    assert len(rows) <= 40


async def test_ef_search_follows_each_search_on_one_connection(conn):
    # The session keeps the last value (session_settings): a wider search must still raise it.
    await load_insights(conn, 300)
    vector = await embed("topic 3")
    for candidates in (100, 200, 100, 250):
        hits = await l2.hybrid_search(
            conn, **query("nothing shares this", vector, top_k=100, candidates=candidates)
        )
        assert len(hits) == 100
        wide = query("nothing shares this", vector, top_k=candidates, candidates=candidates)
        assert len(await l2.hybrid_search(conn, **wide)) == candidates


async def test_ef_search_is_the_configured_breadth_when_that_exceeds_the_candidates(conn):
    await load_insights(conn, 50)
    vector = await embed("topic 3")
    await l2.hybrid_search(conn, **query("topic", vector, candidates=100), ef_search=150)
    assert await scalar(conn, "SHOW hnsw.ef_search") == "150"
    assert await scalar(conn, "SHOW random_page_cost") == "1.1"  # so 1536 dims use HNSW
    await l2.hybrid_search(conn, **query("topic", vector, candidates=200), ef_search=150)
    assert await scalar(conn, "SHOW hnsw.ef_search") == "200"


async def test_ef_search_inside_a_transaction_ends_with_it(migrated_database):
    _, url = migrated_database
    async with await psycopg.AsyncConnection.connect(url) as connection:  # not autocommit
        await register_vector_async(connection)
        await load_insights(connection, 300)
        wide = query("nothing shares this", await embed("topic 3"), top_k=150, candidates=150)
        assert len(await l2.hybrid_search(connection, **wide)) == 150
        await connection.commit()
        assert await scalar(connection, "SHOW hnsw.ef_search") == "40"
        assert await scalar(connection, "SHOW random_page_cost") == "4"


async def test_hybrid_search_uses_the_hnsw_and_gin_indexes(conn):
    await load_insights(conn, 50)
    shown = await plan(conn, *l2.hybrid_query(**query("topic", await embed("topic"))))
    assert f"l2_insights_embedding_{DIM}_halfvec_hnsw" in shown
    assert "l2_insights_fts_idx" in shown


async def test_rows_of_another_dimension_are_invisible_to_search(conn):
    await add_insight(conn, "old model row", [1.0, 0.0, 0.0])
    current = await add_insight(conn, "current model row")
    hits = await l2.hybrid_search(conn, **query("row", await embed("row")))
    # Keyword search still finds the old row; only the vector branch is per dimension.
    ranks = {hit.id: hit.semantic_rank for hit in hits}
    assert ranks[current] == 1
    assert [rank for hit_id, rank in ranks.items() if hit_id != current] == [None]


# Working memory and stale memory ----------------------------------------------------------


async def age(conn, item_id: int, minutes: int) -> None:
    await conn.execute(
        "UPDATE working_memory SET last_accessed_at = now() - make_interval(mins => %s) "
        "WHERE id = %s",
        [minutes, item_id],
    )


async def test_full_working_memory_evicts_the_least_recently_used_unprotected_item(conn):
    oldest_protected = (await working.store(conn, "keep me", 0.9, 3)).id
    lru = (await working.store(conn, "old and ordinary", 0.8, 3)).id
    recent = (await working.store(conn, "recent", 0.1, 3)).id
    await age(conn, oldest_protected, 30)
    await age(conn, lru, 20)
    await age(conn, recent, 10)

    stored = await working.store(conn, "new", 0.5, 3)
    assert stored.evicted_ids == [lru]
    held = {item["id"] for item in await working.list_items(conn, 10)}
    assert held == {oldest_protected, recent, stored.id}
    [archived] = await stale.list_items(conn, importance_min=0, limit=10)
    assert archived["original_id"] == lru
    assert archived["content"] == "old and ordinary"
    assert archived["importance"] == pytest.approx(0.8)
    assert "least recently used" in archived["reason"]


async def test_when_every_item_is_protected_the_least_important_goes(conn):
    ids = [(await working.store(conn, f"vital {i}", 0.9 + i / 100, 3)).id for i in range(3)]
    await age(conn, ids[2], 60)  # the least recent is the most important: it stays
    stored = await working.store(conn, "another", 0.95, 3)
    assert stored.evicted_ids == [ids[0]]
    [archived] = await stale.list_items(conn, importance_min=0, limit=10)
    assert "least important" in archived["reason"]


async def test_storing_held_content_again_refreshes_it_instead_of_evicting(conn):
    first = await working.store(conn, "same", 0.2, 2)
    await working.store(conn, "other", 0.3, 2)
    again = await working.store(conn, "same", 0.7, 2)
    assert (again.id, again.refreshed, again.evicted_ids) == (first.id, True, [])
    [item] = [i for i in await working.list_items(conn, 10) if i["id"] == first.id]
    assert item["importance"] == pytest.approx(0.7)


async def test_a_lowered_capacity_evicts_down_to_it_in_one_call(conn):
    for i in range(5):
        await working.store(conn, f"item {i}", 0.5, 10)
    stored = await working.store(conn, "newcomer", 0.5, 2)
    assert len(stored.evicted_ids) == 4
    assert await scalar(conn, "SELECT count(*) FROM working_memory") == 2


async def test_concurrent_stores_never_exceed_the_capacity(migrated_database):
    settings, url = migrated_database
    pool = make_pool(settings, url)
    await pool.open()
    try:

        async def store(i: int) -> None:
            async with pool.connection() as connection:
                await working.store(connection, f"parallel {i}", 0.5, 3)

        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(store, i)
        async with pool.connection() as connection:
            assert await scalar(connection, "SELECT count(*) FROM working_memory") == 3
            assert await scalar(connection, "SELECT count(*) FROM stale_memory") == 17
    finally:
        await pool.close()


async def test_stale_memory_filters_by_importance(conn):
    for importance in (0.1, 0.5, 0.7):
        await working.store(conn, f"weight {importance}", importance, 1)
    await working.store(conn, "last", 0.0, 1)
    found = await stale.list_items(conn, importance_min=0.5, limit=10)
    assert sorted(item["importance"] for item in found) == pytest.approx([0.5, 0.7])
    assert len(await stale.list_items(conn, importance_min=0, limit=1)) == 1


# Episodes ---------------------------------------------------------------------------------


async def test_similar_episodes_are_the_top_three_above_the_threshold(conn):
    for i, query in enumerate(
        ["deploy postgres", "deploy postgres now", "deploy postgres today", "deploy it", "pasta"]
    ):
        await episodes.insert_episode(
            conn,
            query=query,
            reward=i / 10,
            reflection="r",
            embedding=await embed(query),
            embedding_model="hashing-lexical-v1",
        )
    found = await episodes.similar(
        conn, await embed("deploy postgres"), min_similarity=0.5, limit=3
    )
    assert found[0]["query"] == "deploy postgres"
    assert len(found) == 3
    assert all(e["similarity"] >= 0.5 for e in found)
    assert found == sorted(found, key=lambda e: -e["similarity"])
    strict = await episodes.similar(
        conn, await embed("deploy postgres"), min_similarity=0.99, limit=3
    )
    assert [e["query"] for e in strict] == ["deploy postgres"]


async def test_episode_lookup_uses_the_hnsw_index(conn):
    statement = episodes.similar_statement(DIM)
    params = {"embedding": l2.Vector(await embed("x")), "min_similarity": 0.7, "limit": 3}
    assert f"episode_memory_embedding_{DIM}_halfvec_hnsw" in await plan(conn, statement, params)


async def test_where_a_small_table_is_sorted_the_exact_similarity_is_of_the_nearest_only(conn):
    # Without the index (a small table, priced so), the rows are sorted by the index's
    # half-precision distance; the exact one must not be computed beside it for every row.
    statement = episodes.similar_statement(DIM)
    params = {"embedding": l2.Vector(await embed("x")), "min_similarity": 0.7, "limit": 3}
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        cursor = await conn.execute(psycopg.sql.SQL("EXPLAIN VERBOSE ") + statement, params)
        lines = [row[0] for row in await cursor.fetchall()]
    scan = next(i for i, line in enumerate(lines) if "Seq Scan on public.episode_memory" in line)
    assert "::halfvec" in lines[scan + 1]
    assert f"::vector({DIM}) <=>" not in lines[scan + 1]


async def test_a_query_of_words_too_common_to_narrow_anything_leaves_the_vector_branch_alone(
    conn, small_common_limits, monkeypatch
):
    await common_words_table(conn)
    # 'the user said' is expected in about 37 rows: above this limit the keyword branch
    # matches nothing instead of reading every one of them (the latency tail at 100k).
    monkeypatch.setattr(l2, "MATCH_LIMIT", 10)
    assert await l2.hybrid_search(conn, **words_only("the user said", top_k=50)) == []
    hits = await l2.hybrid_search(conn, **query("the user said", await embed("the user said")))
    assert hits and all(hit.keyword_rank is None for hit in hits)
