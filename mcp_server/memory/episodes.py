"""Episode memory (Reflexion): a query, its reward and a verbal reflection, found by similarity."""

from __future__ import annotations

from pgvector import Vector
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from mcp_server.db import migrator


async def insert_episode(
    conn: AsyncConnection,
    *,
    query: str,
    reward: float,
    reflection: str,
    embedding: list[float],
    embedding_model: str,
) -> int:
    cursor = await conn.execute(
        """
        INSERT INTO episode_memory (query, reward, reflection, embedding, embedding_model)
        VALUES (%(query)s, %(reward)s, %(reflection)s, %(embedding)s, %(model)s)
        RETURNING id""",
        {
            "query": query,
            "reward": reward,
            "reflection": reflection,
            "embedding": Vector(embedding),
            "model": embedding_model,
        },
    )
    return (await cursor.fetchone())[0]


# The nearest `limit` episodes through the per-dimension HNSW index, then the threshold:
# filtering inside the index scan would turn it into a scan of every row.
_SIMILAR = """
SELECT id, query, reward, reflection, created_at, similarity
FROM (
    SELECT id, query, reward, reflection, created_at,
           1 - (embedding::vector({dim}) <=> %(embedding)s) AS similarity
    FROM ({nearest}) AS candidates
) AS nearest
WHERE similarity >= %(min_similarity)s
ORDER BY similarity DESC, id"""
_COLUMNS = ["id", "query", "reward", "reflection", "created_at", "embedding"]


def similar_statement(dimension: int) -> sql.Composed:
    return sql.SQL(_SIMILAR).format(
        dim=sql.Literal(dimension),
        nearest=migrator.nearest("episode_memory", _COLUMNS, dimension, sql.Placeholder("limit")),
    )


async def similar(
    conn: AsyncConnection, embedding: list[float], *, min_similarity: float, limit: int
) -> list[dict]:
    statement = similar_statement(len(embedding))
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        statement,
        {"embedding": Vector(embedding), "min_similarity": min_similarity, "limit": limit},
    )
    return await cursor.fetchall()


async def recent(conn: AsyncConnection, limit: int) -> list[dict]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, query, reward, reflection, created_at, NULL::float8 AS similarity
        FROM episode_memory ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",
        {"limit": limit},
    )
    return await cursor.fetchall()
