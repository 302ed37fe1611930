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


@dataclass(frozen=True)
class JudgeSpend:
    """What the judges cost over the window, and the staged judge's phase and rate."""

    phase: str  # dual or single
    cost_eur: float  # api_name judge + spot_check
    spot_check_rate: float


def judge_spend(conn: psycopg.Connection, days: int, spot_check_rate: float) -> JudgeSpend:
    phase = conn.execute(
        "SELECT phase FROM judge_phase_events ORDER BY created_at DESC, id DESC LIMIT 1"
    ).fetchone()
    cost = conn.execute(
        "SELECT coalesce(sum(estimated_cost), 0)::float FROM api_cost_log "
        "WHERE api_name IN ('judge', 'spot_check') AND date > current_date - %s::int",
        [days],
    ).fetchone()[0]
    return JudgeSpend(phase[0] if phase else "dual", cost, spot_check_rate)


def suggestions(
    rows: list[dict], status: MonthStatus, judges: JudgeSpend | None = None, days: int = 30
) -> list[str]:
    """Advice drawn from the data, with its figures: what costs most and what would cut it."""
    total = sum(r["cost_eur"] for r in rows)
    advice = []
    for row in rows[:3]:
        if not row["cost_eur"]:
            continue
        share = row["cost_eur"] / total
        per_call = row["tokens"] / row["calls"] if row["calls"] else 0
        line = (f"{row['api_name']}: {row['cost_eur']:.4f} EUR in {days} days ({share:.0%} of "
                f"the cost), {row['calls']} calls averaging {per_call:.0f} tokens")  # fmt: skip
        if row["api_name"] == "openai_embeddings" and row["calls"] and per_call < 50:
            line += ": short texts one call each; batch them (reembed --batch-size) where you can"
        elif share >= 0.5:
            line += ": the first place to save (a cheaper model in config.yaml, or fewer calls)"
        advice.append(line)
    if judges is not None and judges.phase == "dual" and judges.cost_eur > 0:
        # Phase 2 keeps judge 1 and asks judge 2 for spot_check_rate of the docs only.
        saving = judges.cost_eur * (1 - judges.spot_check_rate) / 2
        advice.append(
            f"judges: {judges.cost_eur:.4f} EUR in {days} days with both judges; phase 2 of the "
            f"staged judge (one judge + {judges.spot_check_rate:.0%} spot checks) would save "
            f"about {saving:.4f} EUR ({saving / judges.cost_eur:.0%}) once kappa allows it: "
            "cognitive-memory judge evaluate"
        )
    if status.projected_eur > status.limit_eur:
        advice.append(
            f"At this rate the month ends at {status.projected_eur:.2f} EUR, over the "
            f"{status.limit_eur:.2f} EUR budget (budget.hard_stop: true stops paid calls there)"
        )
    return advice or ["Nothing to optimize: no paid calls were logged in the last 30 days"]
