"""L2: compressed insights with embeddings, and hybrid search over them.

The vector branch takes `migrator.nearest` rows (ordered by the half-precision expression
the HNSW index holds) with DIM as a literal and the filter `embedding_dim = DIM`: that is
exactly the partial index the migrator keeps per dimension, so only rows of the current
model's dimension are compared, through the index. Distances and scores are computed from
the stored full-precision vector, `embedding::vector(DIM)`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

from pgvector import Vector
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from mcp_server.db import migrator, session_settings
from mcp_server.memory import answers as answer_rule
from mcp_server.memory import diversity as diversity_rule

# pgvector caps hnsw.ef_search at 1000, so more candidates than that cannot be promised.
MAX_CANDIDATES = 1000
# Memories are read from RAM or SSD, where a random page costs about what a sequential one
# does. At PostgreSQL's default (4.0) pgvector prices an HNSW scan over 1536-dimension vectors
# above a parallel scan of the heap (then small: vectors were in TOAST): at 100k insights every
# search read every vector, 1 s instead of milliseconds (bench/hybrid_search.py, issue 10).
# And below a few thousand insights it prices the index above sorting the whole table by
# distance, which computes one (half-precision) distance per row: at 1k x 1536 the statement
# took 5.6 ms that way against 2.7 ms through the index. Every other scan of the statement
# has an index or is no table scan (CTEs, catalog lookups by key), so no plan gets worse.
PLANNER = {"random_page_cost": "1.1", "enable_seqscan": "off"}


@dataclass(frozen=True)
class SearchHit:
    id: int
    content: str
    created_at: dt.datetime
    source_ids: list[int]
    score: float
    semantic_rank: int | None
    keyword_rank: int | None
    semantic_score: float | None
    keyword_score: float | None


@dataclass(frozen=True)
class SearchStatements:
    """A search: one statement (`whole`), or its two branches, each one row of JSON text, and
    the `fusion` of those (named parameters `semantic` and `keyword`, beside `params`)."""

    whole: sql.SQL
    vector: sql.SQL
    keyword: sql.SQL
    fusion: sql.SQL
    params: dict


async def insert_insight(
    conn: AsyncConnection,
    *,
    content: str,
    embedding: list[float],
    embedding_model: str,
    source_ids: list[int],
    fidelity_score: float,
    text_search_config: str,
    context: str = "",
    source_words: str = "",
    question_id: int | None = None,
) -> tuple[int, dt.datetime]:
    """`source_words` and `context` (index_words.words_of) are indexed for full-text search
    with the content, the context at search.context_weight; neither is returned.
    `question_id`: the raw turn this insight answers (index_words, answers.py)."""
    cursor = await conn.execute(
        """
        INSERT INTO l2_insights (content, context, source_words, embedding, embedding_model,
                                 source_ids, fidelity_score, text_search_config, question_id)
        VALUES (%(content)s, %(context)s, %(source_words)s, %(embedding)s, %(model)s,
                %(source_ids)s, %(fidelity)s, %(config)s::regconfig, %(question_id)s)
        RETURNING id, created_at""",
        {
            "content": content,
            "context": context,
            "source_words": source_words,
            "question_id": question_id,
            "embedding": Vector(embedding),
            "model": embedding_model,
            "source_ids": source_ids,
            "fidelity": fidelity_score,
            "config": text_search_config,
        },
    )
    return await cursor.fetchone()


async def recent(conn: AsyncConnection, limit: int) -> list[dict]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, content, created_at, source_ids, embedding_model, fidelity_score
        FROM l2_insights ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",
        {"limit": limit},
    )
    return await cursor.fetchall()


# The keyword branch matches insights that share ANY uncommon word with the query, and ranks
# them by BM25 (Robertson's idf-weighted term frequency with length normalisation).
#
# websearch_to_tsquery ANDs every word, so a question ("When did Caroline go to the support
# group?") matched only insights holding all eight words: on LoCoMo (bench/locomo.py) the
# keyword branch found no evidence turn at all and hybrid search equalled semantic search.
# Words found in more than COMMON_SHARE of the insights and in more than COMMON_ROWS of
# them are left out of the match (every matching row is scored, so they set the cost), as
# read from the statistics ANALYZE keeps for the fts column (pg_stats.most_common_elems):
# free at query time, language-neutral, and it also drops words nearly every memory holds
# (a user's name), which would make every row a candidate. They still count in the score of
# the rows that match, with their low idf. Before the first ANALYZE nothing counts as
# common. A query whose words are all common: see MATCH_LIMIT. A query without words
# matches nothing.
#
# ts_rank_cd has no idf: a row repeating "did" outranked one holding the rare word. BM25
# needs each word's document frequency: for a common word the statistics give it, for any
# other it is counted through the GIN index, which is cheap exactly because the word is rare.
# LoCoMo, all-MiniLM-L6-v2, keyword branch recall@5 without the adversarial category: 0.50
# ts_rank_cd any uncommon word (simple config), 0.60 BM25 (english config), 0.70 BM25 over
# content and context (migration 004).
# Both limits, so a small store scores every match: on LoCoMo (600 turns per conversation,
# where "paint" is in 3 % of the turns) leaving out words above 3 % cost 0.025 of recall@5.
# From 200k insights on, 1 % is more rows than MATCH_LIMIT, so a word is also common when the
# statistics expect more than MATCH_LIMIT rows to hold it: its matches would be cut to the
# newest MATCH_LIMIT anyway, after reading all of them twice (to match, then to count its
# document frequency). At 1M insights, words in 0.3-0.7 % of the rows made the p99 (a 52 ms
# statement, 19 873 buffers in its keyword branch; bench/hybrid_search.py --sizes 1000000).
# Up to 200k nothing changes, since 1 % is then at most MATCH_LIMIT rows.
COMMON_SHARE = 0.01
COMMON_ROWS = 1000
# And at any size a word in more than half of the insights is common: Robertson and Sparck
# Jones's weight turns negative there (evidence against relevance; BM25's +1 only keeps it
# above zero), and in a small store such a word (a speaker's name in every turn) made every
# row a match. LoCoMo (bench/locomo.py, 419-689 insights a conversation): a search 7.2 ->
# 3.4-3.5 ms p50 (three runs); recall@5 / @10 held out 0.790 / 0.870 -> 0.790 / 0.867, tuned
# 0.804 / 0.883 -> 0.799 / 0.880 (at 0.8: 5.3 ms, held out unchanged, tuned the same as at
# 0.5). It reads pg_stats below COMMON_ROWS insights too (~0.2 ms, where the keyword branch
# is cheap anyway).
COMMON_MAJORITY = 0.5
# A query of common words only ("the user") matches the rows holding all of them, but only
# when the statistics expect at most MATCH_LIMIT such rows (the product of the words' shares
# times the insights); else the keyword branch stays empty and the vector branch answers. At
# 100k insights a frequent word alone matched 78 000 rows that BM25 can barely tell apart:
# reading them was the whole latency tail (p99 0.6-0.9 s against p50 30 ms under load,
# bench/hybrid_search.py). At most MATCH_LIMIT matches, the newest, are scored.
MATCH_LIMIT = 2000
BM25_K1 = 1.2
BM25_B = 0.75
# BM25F: an occurrence in the context (weight B: the neighbouring turns, index_words) counts
# this much of one in the content (search.context_weight). LoCoMo, two turns either side,
# recall@5 / @10 on the tuned conversations (held out): full weight 0.778 / 0.854 (0.737 /
# 0.851), half weight 0.791 / 0.856 (0.775 / 0.841): the neighbours find more, but should
# not outrank the turn that holds the words.
CONTEXT_WEIGHT = 0.5

# The `terms` CTE per way of matching: "all" (every word, websearch syntax) is the former
# behaviour, kept for comparison in bench/locomo.py and for callers that want strict matches.
KEYWORD_MATCH = {
    "any": """
    SELECT coalesce(
               string_agg(quote_literal(word), ' | ') FILTER (WHERE share IS NULL),
               CASE WHEN exp(sum(ln(share))) * max(size.insights) <= {match_limit}
                    THEN string_agg(quote_literal(word), ' & ') END
           )::tsquery AS query,
           true AS covers_words
    FROM words, size""",
    "all": """
    SELECT websearch_to_tsquery(%(config)s::regconfig, %(query_text)s) AS query,
           false AS covers_words""",
}

# How the two branches become one score (search.fusion):
# - "score": semantic_weight * cosine similarity + keyword_weight * BM25 / the best BM25 of
#   the query, for every row either branch found. Scores keep how far apart results are,
#   which ranks throw away: on LoCoMo hybrid recall@5 0.68 with RRF, 0.72 with scores.
# - "rrf": weighted reciprocal rank fusion with rrf_k, the former behaviour.
FUSION = ("score", "rrf")

# From this many insights a search runs its branches side by side when it can (hybrid_search,
# `spare`). Below, the HNSW scan is too short for the third statement's round trip to pay:
# through MCP (bench/hybrid_search.py's data, alternating runs) 1.05-1.08x the time at 1k x
# 384, 0.97-1.0x at 10k (384 and 1536), 0.82-0.88x at 100k.
SPLIT_FROM = 20_000


async def estimated_count(conn: AsyncConnection) -> int:
    """The planner's count of insights (migrator.INSIGHT_ROWS); 0 before the first ANALYZE."""
    cursor = await conn.execute(migrator.INSIGHT_ROWS)
    return max((await cursor.fetchone())[0], 0)


# The vector branch: the candidates nearest the query, with their exact distances, nearest
# first (position = rank).
_VECTOR_BRANCH = """
-- the exact distance, of the candidates only (migrator.nearest)
SELECT id, embedding::vector({dim}) <=> %(embedding)s AS distance,
       question_id, {sole_source} AS sole_source
FROM ({nearest}) AS candidates
ORDER BY distance, id
"""
# What the answer step (answers.py) needs of a hit: the question it answers, and the turn it
# holds when that turn is its only source. Each branch reads them with the row it ranks, so
# the fusion reads no insight but those of the page.
_SOLE_SOURCE = "CASE WHEN cardinality(source_ids) = 1 THEN source_ids[1] END"

# The keyword branch: the best BM25 matches, best first (position = rank).
_KEYWORD_BRANCH = """
WITH common AS (
    SELECT stats.word, stats.share
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    JOIN pg_stats AS s
      ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'fts',
    unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS stats(word, share)
    WHERE c.oid = 'l2_insights'::regclass AND c.reltuples > 0
      AND (stats.share > %(common_majority)s
           OR stats.share * c.reltuples > %(common_rows)s
              AND (stats.share > %(common_share)s OR stats.share * c.reltuples > {match_limit}))
),
words AS (  -- the query's distinct words; share is set for the common ones
    SELECT DISTINCT query_words.lexeme AS word, common.share
    FROM unnest(to_tsvector(%(config)s::regconfig, %(query_text)s)) AS query_words
    LEFT JOIN common ON common.word = query_words.lexeme
),
size AS (  -- how many insights there are; counted only before the first ANALYZE
    SELECT CASE WHEN reltuples >= 0 THEN reltuples
                ELSE (SELECT count(*) FROM l2_insights) END AS insights
    FROM pg_class WHERE oid = 'l2_insights'::regclass
),
terms AS ({terms}
),
matches AS MATERIALIZED (
    SELECT id, fts FROM l2_insights, terms
    WHERE fts @@ terms.query  -- a NULL query (no words) matches nothing
    ORDER BY id DESC
    LIMIT {match_limit}
),
-- Per match, its length and the query's words in it: setweight marks the query's words and
-- ts_filter keeps them, among the content words (weight A) and among the context words
-- (weight B), so a handful of lexemes per match are unnested, not the whole document
-- (unnesting every lexeme made the search 1.5x slower on LoCoMo). Computed once per match
-- here, then term frequencies, document frequencies and scores are read from small rows.
-- Before, each of them read `fts` again and a per-match aggregate ran once per match: the
-- whole statement now takes 0.86x the time at 419 LoCoMo insights and 0.95x at 5,520, about
-- the same at 10k-100k short generated texts (0.78x and 0.83x before migration 010, when
-- a third of LoCoMo's `fts` values were in TOAST); LoCoMo recall the same (issue 10).
hits AS MATERIALIZED (
    SELECT matches.id, length(matches.fts) AS length,
           ts_filter(setweight(setweight(ts_filter(matches.fts, '{{a}}'), 'd'),
                               'a', query_words.words), '{{a}}') AS content,
           ts_filter(setweight(setweight(ts_filter(matches.fts, '{{b}}'), 'd'),
                               'a', query_words.words), '{{a}}') AS context
    FROM matches,
         (SELECT coalesce(array_agg(word), '{{}}') AS words FROM words) AS query_words
),
-- Term frequencies: an occurrence in the context counts context_weight (BM25F).
tf AS MATERIALIZED (
    SELECT part.id, part.lexeme, sum(part.n) AS n
    FROM (
        SELECT hits.id, lexeme, cardinality(positions)::float8 AS n
        FROM hits, unnest(hits.content)
        UNION ALL
        SELECT hits.id, lexeme, %(context_weight)s * cardinality(positions)
        FROM hits, unnest(hits.context)
    ) AS part
    GROUP BY part.id, part.lexeme
),
-- Each uncommon word's document frequency. When the terms OR every uncommon word ("any")
-- and fewer than MATCH_LIMIT rows matched, `matches` holds every row with such a word, so
-- its rows in `tf` are its document frequency; otherwise the word's rows are counted
-- through the GIN index (a heap page per row: the largest part of the keyword branch at
-- 100k). MATERIALIZED, so each count runs once: inlined, the planner ran it once per use in
-- the idf formula.
df AS MATERIALIZED (
    SELECT words.word,
           coalesce(
               words.share * size.insights,
               CASE WHEN terms.covers_words
                         AND (SELECT count(*) FROM matches) < {match_limit}
                    THEN (SELECT count(*) FROM tf WHERE tf.lexeme = words.word)
                    ELSE (SELECT count(*) FROM l2_insights
                          WHERE fts @@ quote_literal(words.word)::tsquery)
               END
           ) AS rows
    FROM words, size, terms
),
idf AS MATERIALIZED (  -- once per query word, not once per matching row
    SELECT df.word,
           ln(1 + (greatest(size.insights, df.rows) - df.rows + 0.5) / (df.rows + 0.5)) AS idf
    FROM df, size
)
-- The sum in lexeme order, so equal documents get equal scores to the last bit; ties at the
-- cut to `candidates` go to the older insight (before, to the aggregate's hash order).
-- Each of the best gets its cosine here, where its row is read anyway, and once.
SELECT best.id, best.score,
       CASE WHEN l2.embedding_dim = {dim}
            THEN 1 - (l2.embedding::vector({dim}) <=> %(embedding)s) END AS similarity,
       l2.question_id, {sole_source} AS sole_source
FROM (
    SELECT tf.id,
           sum(idf.idf * tf.n * (%(k1)s + 1)
               / (tf.n + %(k1)s * (1 - %(b)s + %(b)s * hits.length
                                               / (SELECT avg(length) FROM hits)))
               ORDER BY tf.lexeme
           ) AS score
    FROM tf
    JOIN idf ON idf.word = tf.lexeme
    JOIN hits ON hits.id = tf.id
    GROUP BY tf.id
    ORDER BY score DESC, tf.id
    LIMIT {candidates}
) AS best
JOIN l2_insights AS l2 ON l2.id = best.id
ORDER BY best.score DESC, best.id
"""

# The two branches and their fusion are one statement (hybrid_query), or three when a second
# connection is idle (hybrid_search): each branch on its own connection, so they run at once
# on two cores, then the fusion over the two ranked lists. At 100k x 1536 the HNSW scan takes
# ~6.5 ms and the keyword branch ~3 ms, which one statement runs one after the other
# (bench/hybrid_search.py, issue 10). Both forms fuse with the same tail.
_BRANCHES = """
WITH semantic AS (
    SELECT *, row_number() OVER (ORDER BY distance, id) AS rank
    FROM ({vector}) AS branch
),
keyword AS (
    SELECT *, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM ({keyword}) AS branch
),"""
# A branch on its own hands its rows to the fusion as one JSON array, in rank order, which
# Python passes on as it came: converting 200 rows to Python values and back cost ~0.5 ms
# of CPU a search. Numbers keep every bit (float8 is written in its shortest exact form).
_AS_LIST = """
SELECT coalesce(json_agg(branch ORDER BY {order}), '[]')::text AS ranked FROM ({branch}) AS branch
"""
_BRANCH_LISTS = """
WITH semantic AS (
    SELECT * FROM ROWS FROM (
        json_to_recordset(%(semantic)s::json)
            AS (id bigint, distance float8, question_id bigint, sole_source bigint)
    ) WITH ORDINALITY AS branch(id, distance, question_id, sole_source, rank)
),
keyword AS (
    SELECT * FROM ROWS FROM (
        json_to_recordset(%(keyword)s::json)
            AS (id bigint, score float8, similarity float8, question_id bigint,
                sole_source bigint)
    ) WITH ORDINALITY AS branch(id, score, similarity, question_id, sole_source, rank)
),"""
_FUSION = """
found AS (
    SELECT coalesce(semantic.id, keyword.id) AS id,
           semantic.rank AS semantic_rank,
           keyword.rank AS keyword_rank,
           -- a vector branch row's exact distance, else the keyword branch's cosine: the same
           coalesce(1 - semantic.distance, keyword.similarity) AS semantic_score,
           keyword.score AS keyword_score,
           keyword.score / max(keyword.score) OVER () AS keyword_share,
           coalesce(semantic.question_id, keyword.question_id) AS question_id,
           coalesce(semantic.sole_source, keyword.sole_source) AS sole_source
    FROM semantic FULL OUTER JOIN keyword ON semantic.id = keyword.id
),
fused AS (
    SELECT found.*,
           CASE WHEN %(fusion)s = 'rrf' THEN
               coalesce(%(semantic_weight)s::float8 / (%(rrf_k)s + semantic_rank), 0)
               + coalesce(%(keyword_weight)s::float8 / (%(rrf_k)s + keyword_rank), 0)
           ELSE
               %(semantic_weight)s::float8 * coalesce(semantic_score, 0)
               + %(keyword_weight)s::float8 * coalesce(keyword_share, 0)
           END AS score
    FROM found
),{answers}
page AS MATERIALIZED (
    SELECT id, score, semantic_rank, keyword_rank, semantic_score, keyword_score,
           row_number() OVER (ORDER BY score DESC, id) AS position
    FROM answers  -- fused, an answer gaining from its question (answers.py)
    WHERE score > 0  -- a branch weighted 0 contributes nothing, not filler
    ORDER BY score DESC, id
    LIMIT {rows}
){vectors}
SELECT page.id, l2.content, l2.created_at, l2.source_ids, page.score,
       page.semantic_rank, page.keyword_rank, page.semantic_score, page.keyword_score,
       {similarities} AS similarities
FROM page JOIN l2_insights AS l2 ON l2.id = page.id
ORDER BY page.position
"""

# A page to diversify (diversity.py) needs, for each hit past its head and within the span
# the diversified ranks are chosen from, the cosine with each hit above it: the other half of
# the matrix is the same, and the head's own pairs are never asked. NULL for a hit without a
# vector of this dimension. As real: the precision pgvector computes in, half the text.
_SIMILARITIES = """(
    SELECT array_agg((1 - (mine.vector <=> other.vector))::real ORDER BY other.position)
    FROM vectors AS mine, vectors AS other
    WHERE mine.position = page.position AND other.position < mine.position
      AND page.position > {keep}
)"""
_VECTORS = """,
vectors AS MATERIALIZED (  -- the hits the diversified ranks are chosen from
    SELECT page.position,
           CASE WHEN l2.embedding_dim = {dim} THEN l2.embedding::vector({dim}) END AS vector
    FROM page JOIN l2_insights AS l2 ON l2.id = page.id
    WHERE page.position <= {span}
)"""


def search_statements(
    *,
    query_text: str,
    embedding: list[float],
    top_k: int,
    semantic_weight: float,
    keyword_weight: float,
    rrf_k: int,
    candidates: int,
    text_search_config: str,
    keyword_match: Literal["any", "all"] = "any",
    fusion: Literal["score", "rrf"] = "score",
    context_weight: float = CONTEXT_WEIGHT,
    diversity: float = 0.0,
    diversify_after: int = diversity_rule.KEEP,
    answer_boost: float = 0.0,
) -> SearchStatements:
    """The search as one statement, and as its two branches and their fusion (_BRANCHES).

    With a `diversity` weight, score fusion and top_k > diversify_after, it returns the
    best diversity_rule.pool_size rows and their similarities, from which hybrid_search
    chooses the page (diversity.py); else the best top_k and no similarities. With an
    `answer_boost`, a hit gains that share of the score of the question it answers
    (answers.py) before the page is chosen.

    The vector dimension and the row limits are literals: psycopg prepares the statement
    on a pooled connection after a few calls, and PostgreSQL then keeps one generic plan
    for it only when that plan knows its limits (an unknown LIMIT is priced as a tenth of
    the table, which made it plan every call anew: ~1.5 ms of a search at 10k-100k insights,
    bench/hybrid_search.py). Each distinct top_k is one more prepared statement.
    """
    params = {
        "embedding": Vector(embedding),
        "query_text": query_text,
        "config": text_search_config,
        "semantic_weight": semantic_weight,
        "keyword_weight": keyword_weight,
        "rrf_k": rrf_k,
        "common_share": COMMON_SHARE,
        "common_rows": COMMON_ROWS,
        "common_majority": COMMON_MAJORITY,
        "k1": BM25_K1,
        "b": BM25_B,
        "fusion": fusion,
        "context_weight": float(context_weight),
        "answer_boost": float(answer_boost),
    }
    weight, keep, rows = page_rule(
        top_k=int(top_k), fusion=fusion, diversity=diversity, diversify_after=diversify_after
    )
    diverse = diversity_rule.diversifies(int(top_k), weight, keep)
    whole, vector, keyword, fuse = _statements(
        dim=len(embedding),
        candidates=candidate_count(candidates, rows),
        rows=rows,
        match_limit=int(MATCH_LIMIT),
        keyword_match=keyword_match,
        answers=answer_rule.step(float(answer_boost)),
        span=diversity_rule.span(int(top_k)) if diverse else None,
        keep=int(keep),
    )
    return SearchStatements(whole, vector, keyword, fuse, params)


@functools.lru_cache(maxsize=256)
def _statements(
    *,
    dim: int,
    candidates: int,
    rows: int,
    match_limit: int,
    keyword_match: str,
    answers: str,
    span: int | None,
    keep: int,
) -> tuple[sql.SQL, sql.SQL, sql.SQL, sql.SQL]:
    """The whole statement, the two branches and the fusion for a search of this shape
    (`answers`: the answer step, answers.py; `span`: the diversified part, None for none),
    rendered once: composing them took ~0.2 ms of CPU a search. Only integers are literals;
    everything else is a parameter."""
    limits = {
        "candidates": sql.Literal(candidates),
        "rows": sql.Literal(rows),
        "match_limit": sql.Literal(match_limit),
    }
    terms = sql.SQL(KEYWORD_MATCH[keyword_match]).format(match_limit=limits["match_limit"])
    vector = sql.SQL(_VECTOR_BRANCH).format(
        dim=sql.Literal(dim),
        nearest=migrator.nearest(
            "l2_insights",
            ["id", "embedding", "question_id", "source_ids"],
            dim,
            limits["candidates"],
        ),
        sole_source=sql.SQL(_SOLE_SOURCE),
    )
    keyword = sql.SQL(_KEYWORD_BRANCH).format(
        dim=sql.Literal(dim), terms=terms, sole_source=sql.SQL(_SOLE_SOURCE), **limits
    )
    fuse = sql.SQL(_FUSION).format(
        answers=sql.SQL(answers),
        vectors=sql.SQL(_VECTORS if span else "").format(
            dim=sql.Literal(dim), span=sql.Literal(span)
        ),
        similarities=sql.SQL(_SIMILARITIES if span else "NULL::real[]").format(
            keep=sql.Literal(keep)
        ),
        **limits,
    )
    statements = (
        sql.SQL(_BRANCHES).format(vector=vector, keyword=keyword) + fuse,
        sql.SQL(_AS_LIST).format(branch=vector, order=sql.SQL("distance, id")),
        sql.SQL(_AS_LIST).format(branch=keyword, order=sql.SQL("score DESC, id")),
        sql.SQL(_BRANCH_LISTS) + fuse,
    )
    return tuple(sql.SQL(statement.as_string(None)) for statement in statements)


def hybrid_query(**query) -> tuple[sql.SQL, dict]:
    """The search as one statement, and its named parameters (search_statements)."""
    statements = search_statements(**query)
    return statements.whole, statements.params


def page_rule(
    *,
    top_k: int,
    fusion: str = "score",
    diversity: float = 0.0,
    diversify_after: int = diversity_rule.KEEP,
    **_other_arguments,
) -> tuple[float, int, int]:
    """(diversity weight, head kept by score, rows to rank) for a page of top_k, from
    hybrid_query's arguments.

    No diversity under RRF, whose scores (weight / (k + rank), about 0.01) are not on the
    cosine scale the penalty is: at 0.2 it ranked by dissimilarity alone (LoCoMo recall@10
    0.721 -> 0.691, bench/locomo.py's rrf row)."""
    weight = diversity if fusion == "score" else 0.0
    return weight, diversify_after, diversity_rule.pool_size(top_k, weight, diversify_after)


def configured(search, *, top_k: int, **overrides) -> dict:
    """hybrid_search's keyword arguments from the `search` settings (config.SearchSettings),
    with `overrides` (a caller's weights, a bench's fusion): the tool, the drift check and
    bench/locomo.py search as the configuration says through this one mapping."""
    return {
        "top_k": top_k,
        "semantic_weight": search.weights.semantic,
        "keyword_weight": search.weights.keyword,
        "rrf_k": search.rrf_k,
        # Enough of each list that the fusion can lift a result ranked low in one branch.
        "candidates": max(search.candidates, top_k * 4),
        "ef_search": search.ef_search,
        "text_search_config": search.text_search_config,
        "fusion": search.fusion,
        "context_weight": search.context_weight,
        "diversity": search.diversity,
        "diversify_after": search.diversify_after,
        "answer_boost": search.answer_boost,
        **overrides,
    }


def candidate_count(candidates: int, top_k: int) -> int:
    """How many rows each branch ranks: at least top_k, at most what HNSW can return."""
    return int(min(max(candidates, top_k), MAX_CANDIDATES))


async def hybrid_search(
    conn: AsyncConnection,
    *,
    ef_search: int = 0,
    spare: AsyncConnection | None = None,
    **query,
) -> list[SearchHit]:
    """Fuse the nearest vectors with the best BM25 full-text matches (see FUSION), and with
    a `diversity` weight give the page past its head to different hits (diversity.py).

    Takes the keyword arguments of `search_statements`. Each branch ranks `candidates` rows;
    hnsw.ef_search is `ef_search`, raised to `candidates` if that is more, because HNSW
    returns at most ef_search rows and would otherwise silently shorten the vector branch.
    With a `spare` connection the keyword branch runs on it while `conn` runs the vector
    branch (_BRANCHES); without, the search is one statement on `conn`.
    """
    top_k = query["top_k"]
    weight, keep, rows = page_rule(**query)
    statements = search_statements(**query)
    ef = min(max(ef_search, candidate_count(query["candidates"], rows)), MAX_CANDIDATES)
    settings = {"hnsw.ef_search": str(ef), **PLANNER}
    if spare is None:
        found = await _rows(conn, settings, statements.whole, statements.params)
    else:
        semantic, keyword = await _both(
            _rows(conn, settings, statements.vector, statements.params),
            _rows(spare, PLANNER, statements.keyword, statements.params),
        )
        lists = {"semantic": semantic[0]["ranked"], "keyword": keyword[0]["ranked"]}
        found = await _rows(conn, settings, statements.fusion, statements.params | lists)
    similarities = [row.pop("similarities") for row in found]
    hits = [SearchHit(**row) for row in found]
    if not diversity_rule.diversifies(top_k, weight, keep):
        return hits
    scores = [hit.score for hit in hits]
    order = diversity_rule.page_order(scores, similarities, top_k=top_k, weight=weight, keep=keep)
    return [hits[i] for i in order]


async def _rows(
    conn: AsyncConnection, values: dict[str, str], statement: sql.Composable, params: dict
) -> list[dict]:
    cursor = conn.cursor(row_factory=dict_row)
    async with session_settings.settings(conn, values):
        await cursor.execute(statement, params)
        return await cursor.fetchall()


async def _both(first: Awaitable[list[dict]], second: Awaitable[list[dict]]) -> list[list[dict]]:
    """Both results; on an error, raised once both statements have ended, so neither
    connection goes back to the pool with a statement still running."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def contents_by_id(conn: AsyncConnection, ids: list[int]) -> dict[int, str]:
    """The content of each insight that exists among `ids`."""
    cursor = await conn.execute(
        "SELECT id, content FROM l2_insights WHERE id = ANY(%s)", [list(ids)]
    )
    return dict(await cursor.fetchall())
