"""api_cost_log: one row per paid API call (embeddings included)."""

from __future__ import annotations

import datetime as dt

import psycopg

_INSERT = """
INSERT INTO api_cost_log (date, api_name, num_calls, token_count, estimated_cost)
VALUES (coalesce(%(date)s, current_date), %(api_name)s, %(num_calls)s, %(token_count)s,
        %(estimated_cost)s)
RETURNING id"""


def _row(api_name, num_calls, token_count, estimated_cost, date) -> dict:
    if not api_name or not isinstance(api_name, str):
        raise ValueError("api_name must be a non-empty string")
    if num_calls < 0 or token_count < 0 or estimated_cost < 0:
        raise ValueError("num_calls, token_count and estimated_cost must not be negative")
    return {
        "api_name": api_name,
        "num_calls": int(num_calls),
        "token_count": int(token_count),
        "estimated_cost": float(estimated_cost),
        "date": date,
    }


def insert_cost_log(
    api_name: str,
    num_calls: int,
    token_count: int,
    estimated_cost: float,
    *,
    date: dt.date | None = None,
    conn: psycopg.Connection | None = None,
) -> int:
    """Record one call; without `conn`, connects to this environment's database."""
    row = _row(api_name, num_calls, token_count, estimated_cost, date)
    if conn is not None:
        return conn.execute(_INSERT, row).fetchone()[0]
    from mcp_server.config import load_settings
    from mcp_server.db.connection import connect

    with connect(load_settings()) as own:
        return own.execute(_INSERT, row).fetchone()[0]


async def log_api_cost(
    conn: psycopg.AsyncConnection,
    api_name: str,
    num_calls: int,
    token_count: int,
    estimated_cost: float,
) -> int:
    row = _row(api_name, num_calls, token_count, estimated_cost, None)
    cursor = await conn.execute(_INSERT, row)
    return (await cursor.fetchone())[0]


async def month_spend(conn: psycopg.AsyncConnection) -> float:
    """EUR logged since the first of this month."""
    cursor = await conn.execute(
        "SELECT coalesce(sum(estimated_cost), 0)::float FROM api_cost_log "
        "WHERE date >= date_trunc('month', current_date)::date"
    )
    return (await cursor.fetchone())[0]
