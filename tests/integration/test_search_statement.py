"""The hybrid statement's shortcuts (issue 10, latency) give the answers of the plain formula.

Document frequencies are counted from the matches themselves when they hold every row with
a query word, and the statement is planned once per connection (a generic plan). Both are
checked here against a BM25 computed in Python from the stored tsvectors.
"""

from __future__ import annotations

import math

import pytest
from psycopg import sql

from mcp_server.db import session_settings
from mcp_server.memory import l2
from tests.integration.test_memory_repositories import (
    add_insight,
    embed,
    query,
    scalar,
    words_only,
)

pytestmark = pytest.mark.anyio


async def store(conn) -> None:
    """30 insights: 'alpha' in every third, 'beta' in every seventh (some only in context)."""
    for i in range(30):
        words = ["filler", f"word{i}"] + ["alpha"] * (i % 3 == 0) * (1 + i % 2)
        context = "beta earlier" if i % 7 == 0 and i % 2 else ""
        if i % 7 == 0 and not i % 2:
            words.append("beta")
        await add_insight(conn, " ".join(words), context=context)
    await conn.execute("ANALYZE l2_insights")  # 30 rows: no word is common


async def reference(
    conn, words: list[str], matched: list[int], context_weight: float = l2.CONTEXT_WEIGHT
) -> dict[int, float]:
    """BM25F of `matched` (the rows the statement scores): df over the whole table."""
    cursor = await conn.execute(
        "SELECT id, length(fts), lexeme, positions, weights FROM l2_insights, unnest(fts)"
    )
    lengths, tf, df = {}, {}, dict.fromkeys(words, 0)
    for row_id, length, lexeme, _, weights in await cursor.fetchall():
        lengths[row_id] = length
        if lexeme in df:
            df[lexeme] += 1
            n = weights.count("A") + context_weight * weights.count("B")
            tf[row_id, lexeme] = n
    rows = len(lengths)
    avg = sum(lengths[i] for i in matched) / len(matched)
    k1, b = l2.BM25_K1, l2.BM25_B
    scores = {}
    for row_id in matched:
        score = 0.0
        for word in words:
            if n := tf.get((row_id, word)):
                idf = math.log(1 + (rows - df[word] + 0.5) / (df[word] + 0.5))
                score += idf * n * (k1 + 1) / (n + k1 * (1 - b + b * lengths[row_id] / avg))
        scores[row_id] = score
    return scores


async def keyword_scores(conn, text: str, **overrides) -> dict[int, float]:
    hits = await l2.hybrid_search(conn, **words_only(text, top_k=100, **overrides))
    return {hit.id: hit.keyword_score for hit in hits}


async def ids_holding(conn, condition: str) -> list[int]:
    cursor = await conn.execute(
        f"SELECT id FROM l2_insights WHERE fts @@ {condition}::tsquery ORDER BY id DESC"
    )
    return [row[0] for row in await cursor.fetchall()]


async def test_scores_of_complete_matches_equal_bm25_over_the_table(conn):
    await store(conn)
    matched = await ids_holding(conn, "'alpha | beta'")
    found = await keyword_scores(conn, "alpha beta")
    assert sorted(found) == sorted(matched)
    expected = await reference(conn, ["alpha", "beta"], matched)
    assert found == pytest.approx(expected, rel=1e-9)


async def test_truncated_matches_still_count_each_word_over_the_whole_table(conn, monkeypatch):
    await store(conn)
    # Only the 4 newest of the 13 matches are scored; counted among those 4, 'alpha' and
    # 'beta' would look rarer than they are and every score would change.
    monkeypatch.setattr(l2, "MATCH_LIMIT", 4)
    matched = (await ids_holding(conn, "'alpha | beta'"))[:4]
    found = await keyword_scores(conn, "alpha beta")
    assert sorted(found) == sorted(matched)
    assert found == pytest.approx(await reference(conn, ["alpha", "beta"], matched), rel=1e-9)


async def test_all_words_matching_counts_each_word_over_the_whole_table(conn):
    await store(conn)
    # Rows with both words are few (under MATCH_LIMIT), yet they are not every row with a word.
    matched = await ids_holding(conn, "'alpha & beta'")
    assert 0 < len(matched) < len(await ids_holding(conn, "'alpha'"))
    found = await keyword_scores(conn, "alpha beta", keyword_match="all")
    assert sorted(found) == sorted(matched)
    assert found == pytest.approx(await reference(conn, ["alpha", "beta"], matched), rel=1e-9)


async def test_the_statement_is_planned_once_per_connection_and_keeps_its_answers(conn):
    await store(conn)
    # Enough rows that PostgreSQL's guess for an unknown LIMIT (a tenth of the table) would
    # price the cached generic plan above planning each call anew.
    index = "l2_insights_embedding_384_halfvec_hnsw"
    definition = await scalar(conn, "SELECT pg_get_indexdef(%s::regclass)", [index])
    await conn.execute(f"DROP INDEX {index}")  # built once after the rows: faster
    await conn.execute(
        """
        INSERT INTO l2_insights (content, embedding, embedding_model)
        SELECT 'filler row ' || i,
               (SELECT array_agg(sin(i * d)) FROM generate_series(1, 384) AS d)::vector,
               'hashing-lexical-v1'
        FROM generate_series(1, 3000) AS i"""
    )
    await conn.execute(definition)
    await conn.execute("ANALYZE l2_insights")
    vector = [1.0] + [0.0] * 383
    first = await l2.hybrid_search(conn, **query("alpha beta", vector, top_k=10))
    # psycopg prepares it at the 5th call; PostgreSQL plans the first 5 executions anew.
    for _ in range(14):
        again = await l2.hybrid_search(conn, **query("alpha beta", vector, top_k=10))
    assert again == first
    # The candidate and result limits are literals, so the plan PostgreSQL caches for the
    # prepared statement knows them, and it keeps that generic plan instead of planning
    # every call again (about 1.5 ms at 100k insights).
    cursor = await conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%%WITH semantic AS%%'"
    )
    [(generic, custom)] = await cursor.fetchall()
    assert generic >= 3, (generic, custom)


async def test_semantic_scores_are_the_cosine_of_each_row_from_either_branch(conn):
    await store(conn)
    vector = await embed("word1 word2 word4 word5 word7")
    # 15 of the 30 are nearest: some keyword matches are not among them, so their
    # similarity is computed afresh; the nearest carry theirs from the vector branch.
    hits = await l2.hybrid_search(
        conn, **query("alpha", vector, top_k=15, candidates=15, semantic_weight=0.5)
    )
    assert {hit.semantic_rank is None for hit in hits} == {True, False}
    cursor = await conn.execute(
        "SELECT id, 1 - (embedding <=> %s::vector) FROM l2_insights", [vector]
    )
    cosine = dict(await cursor.fetchall())
    assert {hit.id: hit.semantic_score for hit in hits} == pytest.approx(
        {hit.id: cosine[hit.id] for hit in hits}, rel=1e-9
    )


async def test_a_small_store_is_searched_through_the_vector_index_not_sorted_by_distance(conn):
    await store(conn)
    # 30 rows: PostgreSQL's own pricing sorts the whole table by distance, which reads every
    # vector and computes two distances per row; the search's planner settings walk the index.
    statement, params = l2.hybrid_query(**query("alpha", await embed("word1 alpha")))
    async with session_settings.settings(conn, {"hnsw.ef_search": "100", **l2.PLANNER}):
        cursor = await conn.execute(sql.SQL("EXPLAIN ") + statement, params)
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert "Index Scan using l2_insights_embedding_384_halfvec_hnsw" in plan
    assert "Seq Scan on l2_insights" not in plan


async def test_a_word_in_content_and_context_counts_each_at_the_live_context_weight(conn):
    await store(conn)
    # The same words in the content and the context, repeated, beside the rows of store().
    await add_insight(conn, "alpha alpha gamma", context="alpha beta beta gamma gamma gamma")
    await add_insight(conn, "gamma beta", context="alpha alpha alpha")
    await add_insight(conn, "beta", context="gamma")
    await conn.execute("ANALYZE l2_insights")  # the statement's count of insights
    matched = await ids_holding(conn, "'alpha | beta | gamma'")
    for weight in (0.0, 0.25, 1.0):
        found = await keyword_scores(conn, "alpha beta gamma", context_weight=weight)
        expected = await reference(conn, ["alpha", "beta", "gamma"], matched, weight)
        # At weight 0 a row holding the words in its context only scores 0: not on the page.
        expected = {row: score for row, score in expected.items() if score > 0}
        assert len(expected) > 10
        assert found == pytest.approx(expected, rel=1e-9), weight


async def test_equal_insights_score_equally_and_the_cut_keeps_the_older(conn):
    await store(conn)
    copies = [
        await add_insight(conn, "delta echo foxtrot delta", context="echo golf foxtrot")
        for _ in range(14)
    ]
    # 14 equal matches, 10 candidates: which ones are ranked is no accident of hash order.
    hits = await l2.hybrid_search(
        conn, **words_only("foxtrot golf echo delta", top_k=10, candidates=10)
    )
    assert [hit.id for hit in hits] == copies[:10]
    assert len({hit.keyword_score for hit in hits}) == 1
