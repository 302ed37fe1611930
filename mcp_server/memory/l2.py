"""L2: compressed insights with embeddings, and hybrid search over them.

Vector expressions use `embedding::vector(DIM)` with DIM as a literal and the filter
`embedding_dim = DIM`: that is exactly the partial HNSW index the migrator keeps per
dimension, so only rows of the current model's dimension are compared, through the index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
keyword AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT id, ts_rank_cd(fts, query) AS score
        FROM l2_insights, websearch_to_tsquery(%(config)s::regconfig, %(query_text)s) AS query
        WHERE fts @@ query
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
    }
    return sql.SQL(_HYBRID).format(dim=sql.Literal(len(embedding))), params


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
