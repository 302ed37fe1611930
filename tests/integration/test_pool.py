"""The server's pool on the embedded PostgreSQL: what it lends works, without a check per call."""

from __future__ import annotations

import psycopg
import psycopg_pool
import pytest

from mcp_server.db.connection import check_idle_connection, open_pool

pytestmark = pytest.mark.anyio


async def backend_pid(pool) -> int:
    async with pool.connection() as conn:
        return (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]


async def test_a_connection_the_server_ended_is_replaced_before_it_is_lent(migrated_database):
    settings, url = migrated_database
    settings = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"pool_min_size": 1, "pool_max_size": 1}
            )
        }
    )
    pool = await open_pool(settings, url)
    try:
        first = await backend_pid(pool)
        assert await backend_pid(pool) == first  # a healthy idle connection is lent again
        with psycopg.connect(url, autocommit=True) as admin:
            # Waits until the backend has gone (it is signalled, not stopped, by the call).
            admin.execute("SELECT pg_terminate_backend(%s, 10000)", [first])
        async with pool.connection() as conn:  # no error: the ended one was refused
            pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
        assert pid != first
    finally:
        await pool.close()


async def last_statement(url: str, pid: int) -> str:
    with psycopg.connect(url, autocommit=True) as observer:
        [query] = observer.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
    return query


async def test_the_check_sends_nothing_to_a_healthy_connection(migrated_database):
    _, url = migrated_database
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        pid = conn.info.backend_pid
        # The SDK's check, for comparison: an empty query the server sees (a round trip).
        await conn.execute("SELECT 'last statement'")
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)
        assert await last_statement(url, pid) == ""

        await conn.execute("SELECT 'last statement'")
        for _ in range(3):
            await check_idle_connection(conn)
        assert not conn.closed
        assert await last_statement(url, pid) == "SELECT 'last statement'"
