"""Give stored insights the words they are found by anew (mcp_server.memory.index_words).

Migration 005 added `source_words` (the dates the source turns were said, and the source
turns a distilled insight does not quote) and a wider `context` (turns either side). An
insight stored before it has neither: by default, exactly those rows (`source_words` empty
while their raw turns are here) are rewritten. `everything` recomputes every insight whose
turns are here, after a change of `search.context_turns`.

Rows are read and written in batches, each one transaction that first locks its rows, so an
interrupted run keeps whole batches and a turn stored meanwhile (which refreshes the context
of the insights before it) is never overwritten by words computed without it. A row whose
words come out the same is not written, so a second run changes nothing. Insights whose
source turns are not in this database (imported without them) keep the words they have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import AsyncConnection, sql

from mcp_server.memory import index_words

_HAS_TURNS = sql.SQL("EXISTS (SELECT 1 FROM l0_raw WHERE l0_raw.id = ANY(l2_insights.source_ids))")
# Every insight stored since 005 with a source turn here has at least that turn's date.
_BEFORE_005 = sql.SQL("l2_insights.source_words = ''")


@dataclass(frozen=True)
class Reindexed:
    examined: int  # insights whose words were computed
    changed: int  # of those, the ones written (their words differed)
    without_turns: int  # insights left alone: none of their source turns is here


def _condition(everything: bool) -> sql.Composable:
    return _HAS_TURNS if everything else sql.SQL(" AND ").join([_BEFORE_005, _HAS_TURNS])


async def count(conn: AsyncConnection, *, everything: bool) -> tuple[int, int]:
    """(insights to examine, insights without any source turn here)."""
    cursor = await conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE {todo}), count(*) FILTER (WHERE NOT {turns}) "
            "FROM l2_insights"
        ).format(todo=_condition(everything), turns=_HAS_TURNS)
    )
    todo, without = await cursor.fetchone()
    return todo, without


async def reindex(
    conn: AsyncConnection,
    *,
    context_turns: int,
    batch_size: int,
    everything: bool,
    advance: Callable[[int], None] = lambda _: None,
) -> Reindexed:
    """Recompute the index words batch by batch in id order; see the module docstring."""
    select = sql.SQL(
        "SELECT id, source_ids, content FROM l2_insights WHERE {cond} AND id > %(after)s "
        "ORDER BY id LIMIT %(limit)s FOR UPDATE"
    ).format(cond=_condition(everything))
    examined = changed = after = 0
    _, without_turns = await count(conn, everything=everything)
    while True:
        async with conn.transaction():
            cursor = await conn.execute(select, {"after": after, "limit": batch_size})
            rows = await cursor.fetchall()
            for id_, source_ids, content in rows:
                words = await index_words.words_of(conn, source_ids, content, context_turns)
                changed += await _write(conn, id_, words)
        if not rows:
            return Reindexed(examined, changed, without_turns)
        examined += len(rows)
        after = rows[-1][0]
        advance(len(rows))


async def _write(conn: AsyncConnection, id_: int, words: index_words.IndexWords) -> int:
    cursor = await conn.execute(
        "UPDATE l2_insights SET source_words = %(source_words)s, context = %(context)s "
        "WHERE id = %(id)s AND (source_words, context) IS DISTINCT FROM "
        "(%(source_words)s, %(context)s)",
        {"id": id_, "source_words": words.source_words, "context": words.context},
    )
    return cursor.rowcount
