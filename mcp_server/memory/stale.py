"""Stale memory: what working memory let go of, and why."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row


async def list_items(conn: AsyncConnection, *, importance_min: float, limit: int) -> list[dict]:
    """Most recently archived first."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, original_id, content, importance, reason, created_at, archived_at
        FROM stale_memory
        WHERE importance >= %(importance_min)s::real
        ORDER BY archived_at DESC, id DESC
        LIMIT %(limit)s""",
        {"importance_min": importance_min, "limit": limit},
    )
    return await cursor.fetchall()
