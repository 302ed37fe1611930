"""Connections: which database, the wrong-database guard, slow-query logging, the pool."""

from __future__ import annotations

import logging
import select
import time
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector, register_vector_async
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from mcp_server.config import Settings
from mcp_server.errors import UserError
from mcp_server.redaction import redact_url

log = logging.getLogger(__name__)


class DatabaseError(UserError):
    """The database is unreachable or not the one this environment must use."""


class WrongDatabaseError(DatabaseError):
    pass


def database_url(settings: Settings) -> str:
    """DATABASE_URL if set, else the embedded cluster's database of this environment."""
    if url := settings.secret("DATABASE_URL"):
        return url
    from mcp_server.db.embedded import embedded_url

    return embedded_url(settings.database.name)


def create_database_if_missing(url: str) -> bool:
    """Create the database named in `url` through the server's `postgres` database.

    Needs CREATEDB for that user; returns True when it created the database.
    """
    target = conninfo_to_dict(url)
    name = target.get("dbname")
    if not name:
        raise DatabaseError(f"No database name in {redact_url(url)}")
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return False
    except psycopg.OperationalError as error:
        # libpq reports "does not exist" without a SQLSTATE: ask the server instead.
        original = error
    admin = make_conninfo(url, dbname="postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            # Several servers may start at once (one per client session): one creates the
            # database while the others wait here, then find it (released at disconnect).
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"create database {name}"])
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            created = not found.fetchone()
            if created:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        raise _unreachable(url, original) from None
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        raise _unreachable(url, error) from None
    return created


def _connect_kwargs(settings: Settings) -> dict[str, Any]:
    return {"connect_timeout": max(1, round(settings.database.connect_timeout_s))}


def check_database_name(actual: str, settings: Settings) -> None:
    """Development must never write production, and the reverse."""
    expected = settings.database.name
    if actual != expected:
        raise WrongDatabaseError(
            f"Wrong database: ENVIRONMENT={settings.environment} expects '{expected}' but "
            f"DATABASE_URL in {settings.env_file} connects to '{actual}'"
        )


def _unreachable(url: str, error: Exception) -> DatabaseError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DatabaseError(
        f"Cannot connect to the database at {redact_url(url)}: {reason}. "
        "Check DATABASE_URL and that PostgreSQL is running"
    )


@contextmanager
def connect(settings: Settings, *, url: str | None = None, autocommit: bool = False):
    """One checked synchronous connection (CLI commands, migrations, cron jobs)."""
    url = url or database_url(settings)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **_connect_kwargs(settings))
    except psycopg.OperationalError as error:
        raise _unreachable(url, error) from None
    with conn:
        check_database_name(conn.info.dbname, settings)
        if _has_vector(conn):
            register_vector(conn)
        yield conn


def _has_vector(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone() is not None


class TimedAsyncCursor(psycopg.AsyncCursor):
    """Logs statements slower than the environment's threshold (500 ms prod, 1000 ms dev)."""

    slow_query_ms: float = 1000.0

    async def execute(self, query, params=None, **kwargs):  # type: ignore[override]
        started = time.perf_counter()
        try:
            return await super().execute(query, params, **kwargs)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            if elapsed_ms > self.slow_query_ms:
                text = query if isinstance(query, str) else repr(query)
                log.warning(
                    "slow query",
                    extra={"duration_ms": round(elapsed_ms, 1), "query": text[:300]},
                )


async def check_idle_connection(conn: psycopg.AsyncConnection) -> None:
    """The pool's check before lending a connection: without a round trip to the server.

    An idle connection receives nothing unless the server ended it (a restart or shutdown
    sends FATAL and closes, a crash leaves end-of-file), so one that has something to read
    is closed and refused, and the pool opens a fresh one. The SDK's check_connection sends
    an empty query instead: one round trip on every checkout, which under load added its own
    scheduling delay to each call (bench/hybrid_search.py, issue 10).
    """
    if conn.closed or conn.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        await conn.close()
        raise psycopg.OperationalError("the server ended the idle connection")


def make_pool(settings: Settings, url: str) -> AsyncConnectionPool:
    """An unopened async pool; connections are checked before use so restarts heal."""
    cursor_class = type(
        "TimedAsyncCursor", (TimedAsyncCursor,), {"slow_query_ms": settings.logging.slow_query_ms}
    )

    async def configure(conn: psycopg.AsyncConnection) -> None:
        await register_vector_async(conn)
        conn.cursor_factory = cursor_class

    return AsyncConnectionPool(
        url,
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        kwargs={"autocommit": True, **_connect_kwargs(settings)},
        configure=configure,
        check=check_idle_connection,
        timeout=settings.database.connect_timeout_s,
        # Give up a reconnect series quickly: the next request then starts a fresh attempt at
        # once, instead of waiting out an ever longer backoff after PostgreSQL is back.
        reconnect_timeout=settings.database.connect_timeout_s,
        open=False,
        name="cognitive-memory",
    )


async def open_pool(settings: Settings, url: str) -> AsyncConnectionPool:
    pool = make_pool(settings, url)
    try:
        await pool.open(wait=True, timeout=settings.database.connect_timeout_s)
    except Exception as error:
        await pool.close()
        raise _unreachable(url, error) from None
    async with pool.connection() as conn:
        check_database_name(conn.info.dbname, settings)
    return pool
