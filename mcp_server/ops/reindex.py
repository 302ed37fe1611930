"""Give stored insights the words they are found by anew (mcp_server.memory.index_words).

Migration 005 added `source_words` (the dates the source turns were said, and the source
turns a distilled insight does not quote) and a wider `context` (turns either side). An
insight stored before it has neither: by default, exactly those rows (`source_words` empty
while their raw turns are here) are rewritten. `everything` recomputes every insight whose
turns are here, after a change of `search.context_turns`, and gives the insights stored
before migration 011 the question they answer (`question_id`, mcp_server.memory.answers).

Rows are read and written in batches, each one transaction that first locks its rows, so an
interrupted run keeps whole batches and a turn stored meanwhile (which refreshes the context
of the insights before it) is never overwritten by words computed without it. A row whose
words come out the same is not written, so a second run changes nothing. Insights whose
source turns are not in this database (imported without them) keep the words they have.

Rewriting a row makes a new row version, and PostgreSQL inserts every new version into every
index of the table: into the HNSW graph too, although the vector did not change. That insert
is ~25 ms of the ~27 ms a row costs (bench/reindex.py, 10k insights at load 6), so an upgrade
that rewrites many rows drops the vector indexes of l2_insights first and builds them again
at the end (CONCURRENTLY: the server keeps serving; searches scan exactly meanwhile). An
interrupted run leaves them absent: the next run builds them, and so does a server's start
(mcp_server.db.index_upkeep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import AsyncConnection, sql

from mcp_server.db import index_upkeep, migrator
from mcp_server.memory import index_words

# An upgrade rewriting at least this many rows rebuilds the vector indexes instead of
# inserting every row version into them (bench/reindex.py).
REBUILD_FROM = 1000

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
    dimension: int,
    batch_size: int,
    everything: bool,
    advance: Callable[[int], None] = lambda _: None,
    rebuilding: Callable[[], None] = lambda: None,
) -> Reindexed:
    """Recompute the index words batch by batch in id order; see the module docstring.

    `conn` must be in autocommit mode. `dimension` (the configured one) always has its
    vector index at the end; `rebuilding` is called before indexes are built."""
    todo, without_turns = await count(conn, everything=everything)
    # --all rewrites only the rows whose words changed: unknown in advance, so it keeps them.
    dropped = await _drop_vector_indexes(conn) if not everything and todo >= REBUILD_FROM else []
    result = await _rewrite(conn, context_turns, batch_size, everything, advance)
    missing = [
        d for d in {*dropped, dimension} if not await index_upkeep.state(conn, "l2_insights", d)
    ]
    if missing:
        rebuilding()
        await _build(conn, missing)
    return Reindexed(result[0], result[1], without_turns)


async def _rewrite(conn, context_turns, batch_size, everything, advance) -> tuple[int, int]:
    select = sql.SQL(
        "SELECT id, source_ids, content FROM l2_insights WHERE {cond} AND id > %(after)s "
        "ORDER BY id LIMIT %(limit)s FOR UPDATE"
    ).format(cond=_condition(everything))
    examined = changed = after = 0
    while True:
        async with conn.transaction():
            cursor = await conn.execute(select, {"after": after, "limit": batch_size})
            rows = await cursor.fetchall()
            for id_, source_ids, content in rows:
                words = await index_words.words_of(conn, source_ids, content, context_turns)
                changed += await _write(conn, id_, words)
        if not rows:
            return examined, changed
        examined += len(rows)
        after = rows[-1][0]
        advance(len(rows))


async def _write(conn: AsyncConnection, id_: int, words: index_words.IndexWords) -> int:
    cursor = await conn.execute(
        "UPDATE l2_insights SET source_words = %(source_words)s, context = %(context)s, "
        "question_id = %(question_id)s "
        "WHERE id = %(id)s AND (source_words, context, question_id) IS DISTINCT FROM "
        "(%(source_words)s, %(context)s, %(question_id)s::bigint)",
        {
            "id": id_,
            "source_words": words.source_words,
            "context": words.context,
            "question_id": words.question_id,
        },
    )
    return cursor.rowcount


async def _drop_vector_indexes(conn: AsyncConnection) -> list[int]:
    """Drop the HNSW indexes of l2_insights (without blocking searches); their dimensions."""
    cursor = await conn.execute(
        "SELECT relname, substring(relname FROM %(dim)s)::int FROM pg_class "
        "WHERE relkind = 'i' AND relname ~ %(dim)s "
        "AND relnamespace = current_schema()::regnamespace",
        {"dim": "^l2_insights_embedding_([0-9]+)_(?:halfvec_)?hnsw$"},
    )
    dimensions = []
    for name, dimension in await cursor.fetchall():
        await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(name)))
        dimensions.append(dimension)
    return dimensions


async def _build(conn: AsyncConnection, dimensions: list[int]) -> None:
    # One builder at a time, as a starting server's (index_upkeep); held for this session.
    await conn.execute("SELECT pg_advisory_lock(%s)", [migrator.LOCK_KEY])
    await index_upkeep.make_room_for_the_graph(conn, max(dimensions))
    try:
        for dimension in sorted(set(dimensions)):  # an earlier full-precision index too
            await index_upkeep.build(conn, "l2_insights", dimension)
    finally:
        await conn.execute("RESET maintenance_work_mem")
        await conn.execute("SELECT pg_advisory_unlock(%s)", [migrator.LOCK_KEY])
