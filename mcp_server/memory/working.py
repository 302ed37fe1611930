"""Working memory: a few importance-weighted items; the overflow goes to stale memory.

"Used" means stored or stored again: adding content that is already held refreshes that
item (its last use, and its importance if higher) instead of holding it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import dict_row

# Items above this importance are evicted only when nothing less important is left.
PROTECTED_IMPORTANCE = 0.8


@dataclass(frozen=True)
class Stored:
    id: int
    evicted_ids: list[int]
    refreshed: bool


_REFRESH = """
UPDATE working_memory
SET last_accessed_at = now(), importance = greatest(importance, %(importance)s)
WHERE id = (SELECT min(id) FROM working_memory WHERE content = %(content)s)
RETURNING id"""

# Least recently used among the unprotected items first; if every item is protected,
# the least important one (then the least recently used of those).
_EVICT = """
WITH victims AS (
    DELETE FROM working_memory
    WHERE id IN (
        SELECT id FROM working_memory
        ORDER BY importance > %(protected)s::real,
                 CASE WHEN importance <= %(protected)s::real THEN last_accessed_at END,
                 importance,
                 last_accessed_at,
                 id
        LIMIT %(count)s)
    RETURNING id, content, importance, created_at
)
INSERT INTO stale_memory (original_id, content, importance, reason, created_at)
SELECT id, content, importance,
       CASE WHEN importance <= %(protected)s::real
            THEN 'evicted: least recently used while working memory was full (capacity '
                 || %(capacity)s || ')'
            ELSE 'evicted: least important while working memory was full of items above '
                 || %(protected)s::real || ' importance (capacity ' || %(capacity)s || ')'
       END,
       created_at
FROM victims
RETURNING original_id"""

_INSERT = """
INSERT INTO working_memory (content, importance)
VALUES (%(content)s, %(importance)s)
RETURNING id"""


async def store(conn: AsyncConnection, content: str, importance: float, capacity: int) -> Stored:
    """Add (or refresh) an item, evicting into stale memory when full, in one transaction."""
    params = {"content": content, "importance": importance}
    async with conn.transaction():
        # Writers take turns, so two concurrent adds cannot both see a free slot.
        await conn.execute("LOCK TABLE working_memory IN SHARE ROW EXCLUSIVE MODE")
        refreshed = await (await conn.execute(_REFRESH, params)).fetchone()
        if refreshed:
            return Stored(refreshed[0], [], refreshed=True)
        held = (await (await conn.execute("SELECT count(*) FROM working_memory")).fetchone())[0]
        evicted: list[int] = []
        # More than one only when the capacity was lowered since the items were stored.
        overflow = held - capacity + 1
        if overflow > 0:
            cursor = await conn.execute(
                _EVICT,
                {"protected": PROTECTED_IMPORTANCE, "count": overflow, "capacity": capacity},
            )
            evicted = [row[0] for row in await cursor.fetchall()]
        new_id = (await (await conn.execute(_INSERT, params)).fetchone())[0]
    return Stored(new_id, evicted, refreshed=False)


async def list_items(conn: AsyncConnection, limit: int) -> list[dict]:
    """Most recently used first."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, content, importance, created_at, last_accessed_at
        FROM working_memory ORDER BY last_accessed_at DESC, id DESC LIMIT %(limit)s""",
        {"limit": limit},
    )
    return await cursor.fetchall()
