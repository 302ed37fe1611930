"""L2: compressed insights with embeddings, and hybrid search over them.

Vector expressions use `embedding::vector(DIM)` with DIM as a literal and the filter
`embedding_dim = DIM`: that is exactly the partial HNSW index the migrator keeps per
dimension, so only rows of the current model's dimension are compared, through the index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pgvector import Vector
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

# pgvector caps hnsw.ef_search at 1000, so more candidates than that cannot be promised.
MAX_CANDIDATES = 1000


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


async def insert_insight(
    conn: AsyncConnection,
    *,
    content: str,
    embedding: list[float],
    embedding_model: str,
    source_ids: list[int],
    fidelity_score: float,
    text_search_config: str,
) -> tuple[int, dt.datetime]:
    cursor = await conn.execute(
        """
        INSERT INTO l2_insights
            (content, embedding, embedding_model, source_ids, fidelity_score, text_search_config)
        VALUES (%(content)s, %(embedding)s, %(model)s, %(source_ids)s, %(fidelity)s,
                %(config)s::regconfig)
        RETURNING id, created_at""",
        {
            "content": content,
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


# The keyword branch matches insights that share ANY uncommon word with the query.
#
# websearch_to_tsquery ANDs every word, so a question ("When did Caroline go to the support
# group?") matched only insights holding all eight words: on LoCoMo (bench/locomo.py) the
# keyword branch found no evidence turn at all and hybrid search equalled semantic search.
# Any-word matching lets it contribute, but the default `simple` config keeps "the", "did",
# "to": they match most rows, ts_rank_cd (no IDF) ranks rows by how often such words occur,
# and every matching row gets ranked, which is slow on a large table. So words found in more
# than COMMON_SHARE of the insights (and in more than COMMON_ROWS of them) are left out, as
# read from the statistics ANALYZE keeps for the fts column (pg_stats.most_common_elems): free
# at query time, language-neutral, and it also drops words that nearly every memory holds (a
# user's name). Before the first ANALYZE nothing counts as common. A query whose words are
# all common matches the insights holding all of them; a query without words matches nothing.
# LoCoMo, all-MiniLM-L6-v2, hybrid 0.7/0.3, recall@5 without the adversarial category:
# 0.47 with AND, 0.51 any word, 0.59 any uncommon word; hybrid_search at 10k insights
# p50/p95 5/8 ms with AND, 16/31 ms any word, 7/11 ms any uncommon word.
COMMON_SHARE = 0.03
COMMON_ROWS = 10

# The `terms` CTE per way of matching: "all" (every word, websearch syntax) is the former
# behaviour, kept for comparison in bench/locomo.py and for callers that want strict matches.
KEYWORD_MATCH = {
    "any": """
    SELECT coalesce(
               string_agg(quote_literal(words.lexeme), ' | ') FILTER (WHERE common.word IS NULL),
               string_agg(quote_literal(words.lexeme), ' & ')
           )::tsquery AS query
    FROM unnest(to_tsvector(%(config)s::regconfig, %(query_text)s)) AS words
    LEFT JOIN common ON common.word = words.lexeme""",
    "all": """
    SELECT websearch_to_tsquery(%(config)s::regconfig, %(query_text)s) AS query""",
}

_HYBRID = """
WITH semantic AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (
        SELECT id, embedding::vector({dim}) <=> %(embedding)s AS distance
        FROM l2_insights
        WHERE embedding_dim = {dim}
        ORDER BY distance
        LIMIT %(candidates)s
    ) AS nearest
),
common AS (
    SELECT stats.word
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    JOIN pg_stats AS s
      ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'fts',
    unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS stats(word, share)
    WHERE c.oid = 'l2_insights'::regclass
      AND stats.share > %(common_share)s
      AND stats.share * c.reltuples > %(common_rows)s
),
terms AS ({terms}
),
keyword AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT id, ts_rank_cd(fts, terms.query) AS score
        FROM l2_insights, terms
        WHERE fts @@ terms.query  -- a NULL query (no words) matches nothing
        ORDER BY score DESC
        LIMIT %(candidates)s
    ) AS matches
),
fused AS (
    SELECT coalesce(semantic.id, keyword.id) AS id,
           coalesce(%(semantic_weight)s::float8 / (%(rrf_k)s + semantic.rank), 0)
             + coalesce(%(keyword_weight)s::float8 / (%(rrf_k)s + keyword.rank), 0) AS score,
           semantic.rank AS semantic_rank,
           keyword.rank AS keyword_rank,
           1 - semantic.distance AS semantic_score,
           keyword.score AS keyword_score
    FROM semantic FULL OUTER JOIN keyword ON semantic.id = keyword.id
)
SELECT l2.id, l2.content, l2.created_at, l2.source_ids, fused.score,
       fused.semantic_rank, fused.keyword_rank, fused.semantic_score, fused.keyword_score
FROM fused JOIN l2_insights AS l2 ON l2.id = fused.id
WHERE fused.score > 0  -- a branch weighted 0 contributes nothing, not filler
ORDER BY fused.score DESC, l2.id
LIMIT %(top_k)s
"""


def hybrid_query(
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
) -> tuple[sql.Composed, dict]:
    """The one statement and its named parameters; the vector dimension is a literal."""
    params = {
        "embedding": Vector(embedding),
        "query_text": query_text,
        "config": text_search_config,
        "candidates": min(max(candidates, top_k), MAX_CANDIDATES),
        "top_k": top_k,
        "semantic_weight": semantic_weight,
        "keyword_weight": keyword_weight,
        "rrf_k": rrf_k,
        "common_share": COMMON_SHARE,
        "common_rows": COMMON_ROWS,
    }
    statement = sql.SQL(_HYBRID).format(
        dim=sql.Literal(len(embedding)), terms=sql.SQL(KEYWORD_MATCH[keyword_match])
    )
    return statement, params


async def hybrid_search(conn: AsyncConnection, **query) -> list[SearchHit]:
    """Weighted reciprocal rank fusion of the nearest vectors and the best full-text matches.

    Takes the keyword arguments of `hybrid_query`. Each branch ranks `candidates` rows;
    ef_search is raised to match, because HNSW returns at most ef_search rows and would
    otherwise silently shorten the vector branch.
    """
    statement, params = hybrid_query(**query)
    cursor = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        # set_config(..., true) is SET LOCAL with a bound value: it ends with the transaction.
        await cursor.execute(
            "SELECT set_config('hnsw.ef_search', %(ef)s, true)", {"ef": str(params["candidates"])}
        )
        await cursor.execute(statement, params)
        rows = await cursor.fetchall()
    return [SearchHit(**row) for row in rows]


async def contents_by_id(conn: AsyncConnection, ids: list[int]) -> dict[int, str]:
    """The content of each insight that exists among `ids`."""
    cursor = await conn.execute(
        "SELECT id, content FROM l2_insights WHERE id = ANY(%s)", [list(ids)]
    )
    return dict(await cursor.fetchall())
