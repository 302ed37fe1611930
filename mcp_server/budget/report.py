"""Cost figures from api_cost_log. Plain SQL; callers format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class MonthStatus:
    month_start: dt.date
    spent_eur: float
    limit_eur: float
    threshold_pct: float
    projected_eur: float

    @property
    def used_pct(self) -> float:
        return 100 * self.spent_eur / self.limit_eur

    @property
    def level(self) -> str:
        if self.spent_eur >= self.limit_eur:
            return "exceeded"
        return "warning" if self.used_pct >= self.threshold_pct else "ok"


def month_status(conn: psycopg.Connection, limit_eur: float, threshold_pct: float,
                 today: dt.date | None = None) -> MonthStatus:  # fmt: skip
    today = today or dt.date.today()
    start = today.replace(day=1)
    spent = conn.execute(
        "SELECT coalesce(sum(estimated_cost), 0)::float FROM api_cost_log "
        "WHERE date >= %s AND date <= %s",
        [start, today],
    ).fetchone()[0]
    next_month = (start + dt.timedelta(days=32)).replace(day=1)
    days_in_month = (next_month - start).days
    projected = spent / today.day * days_in_month
    return MonthStatus(start, spent, limit_eur, threshold_pct, projected)


def breakdown(conn: psycopg.Connection, days: int) -> list[dict]:
    rows = conn.execute(
        """
        SELECT api_name, sum(num_calls)::bigint AS calls, sum(token_count)::bigint AS tokens,
               sum(estimated_cost)::float AS cost_eur
        FROM api_cost_log WHERE date > current_date - %s::int
        GROUP BY api_name ORDER BY cost_eur DESC, api_name""",
        [days],
    )
    return [dict(zip(("api_name", "calls", "tokens", "cost_eur"), r, strict=True)) for r in rows]


def daily(conn: psycopg.Connection, days: int) -> list[dict]:
    rows = conn.execute(
        """
        SELECT date, sum(num_calls)::bigint, sum(token_count)::bigint, sum(estimated_cost)::float
        FROM api_cost_log WHERE date > current_date - %s::int
        GROUP BY date ORDER BY date DESC""",
        [days],
    )
    return [dict(zip(("date", "calls", "tokens", "cost_eur"), r, strict=True)) for r in rows]


def suggestions(rows: list[dict], status: MonthStatus) -> list[str]:
    """Plain advice from the breakdown: where the money goes and what would cut it."""
    total = sum(r["cost_eur"] for r in rows)
    advice = []
    for row in rows:
        share = row["cost_eur"] / total if total else 0
        if share >= 0.5:
            advice.append(
                f"{row['api_name']} is {share:.0%} of the cost: batch its calls or pick a "
                "cheaper model in config.yaml"
            )
    if "openai_chat" in {r["api_name"] for r in rows}:
        advice.append(
            "Once the dual judges agree (kappa >= staged_dual_judge.kappa_threshold), the staged "
            "judge drops GPT-4o to spot checks"
        )
    if status.projected_eur > status.limit_eur:
        advice.append(
            f"At this rate the month ends at {status.projected_eur:.2f} EUR, over the "
            f"{status.limit_eur:.2f} EUR budget"
        )
    return advice or ["Nothing to optimize: spending is within budget and spread out"]
