"""Settings a statement needs, sent to a session once instead of before every statement.

hybrid_search needs hnsw.ef_search raised to its candidate count. Set per call with
`SET LOCAL` it took three extra round trips (BEGIN, set_config, COMMIT) on every search; on
2 shared cores each round trip waits for the backend to be scheduled again, which showed in
the tail (bench/hybrid_search.py, issue 10). On a pooled autocommit connection the values are
set for the session when they differ from what this module last set there, so a search
usually sends only its own statement. A connection inside a transaction (or not in
autocommit) gets the former `SET LOCAL`, which a rollback cannot leave half-applied.
Only this module may set these names on a session, or its memory of them is wrong.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection, sql
from psycopg.pq import TransactionStatus

# What this module set on each live connection; a new connection starts unknown.
_applied: weakref.WeakKeyDictionary[AsyncConnection, dict[str, str]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def settings(conn: AsyncConnection, values: dict[str, str]) -> AsyncIterator[None]:
    """Each `name` is its value for the statements run inside the block."""
    if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        known = _applied.setdefault(conn, {})
        changed = {name: value for name, value in values.items() if known.get(name) != value}
        if changed:
            for name in changed:
                known.pop(name, None)  # unknown until the server confirms it
            await conn.execute(_set_config(changed, local=False), _params(changed))
            known.update(changed)
        yield
        return
    async with conn.transaction():
        await conn.execute(_set_config(values, local=True), _params(values))
        yield


def _set_config(values: dict[str, str], *, local: bool) -> sql.Composed:
    # set_config(..., true) is SET LOCAL with a bound value: it ends with the transaction.
    calls = [sql.SQL("set_config(%s, %s, {})").format(sql.Literal(local)) for _ in values]
    return sql.SQL("SELECT ") + sql.SQL(", ").join(calls)


def _params(values: dict[str, str]) -> list[str]:
    return [part for pair in values.items() for part in pair]
