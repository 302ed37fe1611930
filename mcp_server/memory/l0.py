"""L0: raw dialogue turns, stored exactly as spoken."""

from __future__ import annotations

import datetime as dt

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


async def insert_turn(
    conn: AsyncConnection,
    session_id: str,
    speaker: str,
    content: str,
    metadata: dict,
    occurred_at: dt.datetime | None = None,
) -> tuple[int, dt.datetime]:
    """`occurred_at`: when the turn was said, if the client knows; None means now."""
    cursor = await conn.execute(
        """
        INSERT INTO l0_raw (session_id, speaker, content, metadata, occurred_at)
        VALUES (%(session_id)s, %(speaker)s, %(content)s, %(metadata)s, %(occurred_at)s)
        RETURNING id, created_at""",
        {
            "session_id": session_id,
            "speaker": speaker,
            "content": content,
            "metadata": Jsonb(metadata),
            "occurred_at": occurred_at,
        },
    )
    return await cursor.fetchone()


async def missing_ids(conn: AsyncConnection, ids: list[int]) -> list[int]:
    """The ids among `ids` that no L0 turn has, in ascending order."""
    cursor = await conn.execute(
        """
        SELECT coalesce(array_agg(wanted ORDER BY wanted), '{}')
        FROM unnest(%(ids)s::bigint[]) AS wanted
        WHERE NOT EXISTS (SELECT 1 FROM l0_raw WHERE l0_raw.id = wanted)""",
        {"ids": ids},
    )
    return (await cursor.fetchone())[0]


async def list_turns(
    conn: AsyncConnection,
    *,
    session_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
) -> list[dict]:
    """Newest first; `since` is inclusive, `until` exclusive; None means unbounded."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, session_id, speaker, content, metadata, created_at, occurred_at
        FROM l0_raw
        WHERE (%(session_id)s::text IS NULL OR session_id = %(session_id)s)
          AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
        ORDER BY created_at DESC, id DESC
        LIMIT %(limit)s""",
        {"session_id": session_id, "since": since, "until": until, "limit": limit},
    )
    return await cursor.fetchall()
