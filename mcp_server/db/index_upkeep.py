"""A serving server builds a missing vector index itself, in the background, without blocking.

Migrations build the HNSW indexes (`cognitive-memory db migrate`, the deploy), so a server
normally finds them. One can still be missing at start: dropped by hand, left invalid by an
interrupted build, or new because the configured dimension changed. Building it before READY
would hold the start for minutes on a large table (systemd gives up after TimeoutStartSec and
the build starts over on every restart), and even a `CREATE INDEX IF NOT EXISTS` of an index
that exists waits for every open writer of the table. So the start only reads the catalog;
searches meanwhile scan exactly (slower, same results) while the index is built CONCURRENTLY,
which lets writes go on.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql

from mcp_server.db import migrator

log = logging.getLogger(__name__)


async def build_missing(url: str, dimension: int) -> list[str]:
    """Build the absent or invalid indexes for `dimension`; return the tables it built for."""
    built = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        tables = migrator.VECTOR_TABLES
        if all([await state(conn, table, dimension) for table in tables]):
            return built  # the usual start: one catalog read per index
        # one builder at a time (several servers, or a migration, may start together); the
        # session's lock ends with its connection, also when the server stops mid-build
        await conn.execute("SELECT pg_advisory_lock(%s)", [migrator.LOCK_KEY])
        await make_room_for_the_graph(conn, dimension)  # this connection's, gone with it
        for table in tables:
            valid = await state(conn, table, dimension)
            if valid:
                continue
            name = migrator.vector_index_name(table, dimension)
            log.warning(
                "vector index missing: building it while the server serves (searches scan "
                "exactly until it is done)",
                extra={"index": name, "state": "invalid" if valid is False else "absent"},
            )
            started = time.monotonic()
            await build(conn, table, dimension)
            seconds = round(time.monotonic() - started, 1)
            log.info("vector index built", extra={"index": name, "seconds": seconds})
            built.append(table)
    return built


async def build(conn: psycopg.AsyncConnection, table: str, dimension: int) -> None:
    """CREATE INDEX CONCURRENTLY, after dropping an invalid one an interrupted build left.

    The caller holds migrator.LOCK_KEY, so no other builder races it."""
    if await state(conn, table, dimension) is False:
        name = migrator.vector_index_name(table, dimension)
        await conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name))
        )
    await conn.execute(migrator.vector_index_sql(table, dimension, concurrently=True))
    # the full-precision index of an earlier release: searches no longer use it
    await conn.execute(migrator.drop_superseded_sql(table, dimension, concurrently=True))


async def make_room_for_the_graph(conn: psycopg.AsyncConnection, dimension: int) -> None:
    """For this session (migrator.room_for_the_graph), sized by the insights there are now."""
    cursor = await conn.execute("SELECT count(*) FROM l2_insights")
    rows = (await cursor.fetchone())[0]
    await conn.execute(*migrator.room_for_the_graph(rows, dimension, local=False))


async def state(conn: psycopg.AsyncConnection, table: str, dimension: int) -> bool | None:
    """True: a valid index; False: an invalid one; None: none (migrator.VECTOR_INDEX_STATE)."""
    name = migrator.vector_index_name(table, dimension)
    cursor = await conn.execute(migrator.VECTOR_INDEX_STATE, [name])
    return (await cursor.fetchone())[0]
