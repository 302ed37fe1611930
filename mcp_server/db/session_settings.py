"""A setting a statement needs, sent to a session once instead of before every statement.

hybrid_search needs hnsw.ef_search raised to its candidate count. Set per call with
`SET LOCAL` it took three extra round trips (BEGIN, set_config, COMMIT) on every search; on
2 shared cores each round trip waits for the backend to be scheduled again, which showed in
the tail (bench/hybrid_search.py, issue 10). On a pooled autocommit connection the value is
set for the session when it differs from what this module last set there, so a search
usually sends only its own statement. A connection inside a transaction (or not in
autocommit) gets the former `SET LOCAL`, which a rollback cannot leave half-applied.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

# What this module set on each live connection; a new connection starts unknown.
_applied: weakref.WeakKeyDictionary[AsyncConnection, dict[str, str]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def setting(conn: AsyncConnection, name: str, value: str) -> AsyncIterator[None]:
    """`name` is `value` for the statements run inside the block."""
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    if conn.autocommit and idle:
        known = _applied.setdefault(conn, {})
        if known.get(name) != value:
            known.pop(name, None)  # unknown until the server confirms it
            await conn.execute("SELECT set_config(%s, %s, false)", [name, value])
            known[name] = value
        yield
        return
    async with conn.transaction():
        # set_config(..., true) is SET LOCAL with a bound value: it ends with the transaction.
        await conn.execute("SELECT set_config(%s, %s, true)", [name, value])
        yield
