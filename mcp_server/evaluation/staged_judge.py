"""The staged dual judge: both judges until they agree, then one judge plus spot checks.

Phase 1 (`dual`): every doc is scored by both judges. `evaluate` pools the doc pairs of the
last `window_rows` dual rows; at kappa >= kappa_threshold it recommends phase 2, and with
apply=True records the transition. Phase 2 (`single`): judge 1 scores every doc, judge 2 a
random `spot_check_rate` of them. Over the last `validation_days` the spot checks' kappa is
HEALTHY (>= kappa_fallback) or LOW; `evaluate` reverts a LOW phase 2 to phase 1 at once (no
apply needed: agreement is what makes one judge trustworthy) and records the revert.

The clock is a parameter (`now`), so tests decide what "the last 30 days" means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg

from mcp_server.config import Settings
from mcp_server.evaluation.clients import JUDGE, SPOT_CHECK
from mcp_server.evaluation.kappa import Agreement, cohen_kappa

DUAL, SINGLE = "dual", "single"
_CURRENT = (
    "SELECT phase, created_at FROM judge_phase_events ORDER BY created_at DESC, id DESC LIMIT 1"
)


@dataclass(frozen=True)
class Phase:
    name: str  # dual or single
    since: dt.datetime | None  # None: phase 1 from the start


def current_phase(conn: psycopg.Connection) -> Phase:
    row = conn.execute(_CURRENT).fetchone()
    return Phase(*row) if row else Phase(DUAL, None)


async def current_phase_async(conn: psycopg.AsyncConnection) -> Phase:
    row = await (await conn.execute(_CURRENT)).fetchone()
    return Phase(*row) if row else Phase(DUAL, None)


def _pooled(rows: list[tuple[list, list]]) -> Agreement:
    judge1, judge2 = [], []
    for scores1, scores2 in rows:
        judge1.extend(scores1)
        judge2.extend(scores2)
    return cohen_kappa(judge1, judge2)


def dual_agreement(conn: psycopg.Connection, window_rows: int) -> Agreement:
    rows = conn.execute(
        "SELECT judge1_scores, judge2_scores FROM ground_truth WHERE phase = 'dual' "
        "ORDER BY created_at DESC, id DESC LIMIT %s",
        [window_rows],
    ).fetchall()
    return _pooled(rows)


def spot_check_agreement(conn: psycopg.Connection, since: dt.datetime) -> Agreement:
    rows = conn.execute(
        "SELECT judge1_scores, judge2_scores FROM ground_truth "
        "WHERE phase = 'single' AND created_at >= %s",
        [since],
    ).fetchall()
    return _pooled(rows)


@dataclass(frozen=True)
class PhaseCost:
    phase: str
    cost_eur: float
    docs: int

    @property
    def per_doc_eur(self) -> float | None:
        return self.cost_eur / self.docs if self.docs else None


def phase_costs(conn: psycopg.Connection) -> list[PhaseCost]:
    """Judge spending (api_cost_log: judge + spot_check) and docs judged, per phase."""
    events = conn.execute(
        "SELECT phase, created_at FROM judge_phase_events ORDER BY created_at, id"
    ).fetchall()
    starts = [(DUAL, dt.datetime.min.replace(tzinfo=dt.UTC)), *events]
    totals = {DUAL: [0.0, 0], SINGLE: [0.0, 0]}
    for i, (phase, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else None
        cost, docs = conn.execute(
            """
            SELECT (SELECT coalesce(sum(estimated_cost), 0)::float FROM api_cost_log
                    WHERE api_name IN (%(judge)s, %(spot)s) AND created_at >= %(start)s
                      AND (%(end)s::timestamptz IS NULL OR created_at < %(end)s)),
                   (SELECT coalesce(sum(jsonb_array_length(docs)), 0)::int FROM ground_truth
                    WHERE created_at >= %(start)s
                      AND (%(end)s::timestamptz IS NULL OR created_at < %(end)s))""",
            {"judge": JUDGE, "spot": SPOT_CHECK, "start": start, "end": end},
        ).fetchone()
        totals[phase][0] += cost
        totals[phase][1] += docs
    return [PhaseCost(phase, cost, docs) for phase, (cost, docs) in totals.items()]


@dataclass(frozen=True)
class Status:
    phase: Phase
    agreement: Agreement
    target: float  # kappa_threshold in phase 1, kappa_fallback in phase 2
    min_pairs: int
    costs: list[PhaseCost] = field(default_factory=list)

    @property
    def enough(self) -> bool:
        return self.agreement.pairs >= self.min_pairs

    @property
    def kappa_or_agreement(self) -> float | None:
        # All pairs in one class: the judges agreed on every doc, so count that as 1.
        if self.agreement.degenerate:
            return 1.0
        return self.agreement.kappa

    @property
    def health(self) -> str:
        """Phase 2: HEALTHY or LOW; phase 1: READY or NOT READY for phase 2."""
        value = self.kappa_or_agreement
        if not self.enough or value is None:
            return "TOO FEW PAIRS"
        if self.phase.name == SINGLE:
            return "HEALTHY" if value >= self.target else "LOW"
        return "READY" if value >= self.target else "NOT READY"

    @property
    def progress(self) -> float | None:
        """Phase 1: kappa as a share of the threshold (1.0 = ready)."""
        value = self.kappa_or_agreement
        if value is None or self.target <= 0:
            return None
        return max(0.0, min(1.0, value / self.target))

    @property
    def saving(self) -> float | None:
        """How much less a judged doc costs in phase 2 than in phase 1 (0.6 = 60 % less)."""
        per = {c.phase: c.per_doc_eur for c in self.costs}
        if not per.get(DUAL) or per.get(SINGLE) is None:
            return None
        return 1 - per[SINGLE] / per[DUAL]


def status(conn: psycopg.Connection, settings: Settings, now: dt.datetime) -> Status:
    staged = settings.staged_dual_judge
    phase = current_phase(conn)
    if phase.name == SINGLE:
        since = now - dt.timedelta(days=staged.validation_days)
        agreement = spot_check_agreement(conn, max(since, phase.since))
        target = staged.kappa_fallback
    else:
        agreement = dual_agreement(conn, staged.window_rows)
        target = staged.kappa_threshold
    return Status(phase, agreement, target, staged.min_pairs, phase_costs(conn))


@dataclass(frozen=True)
class Decision:
    action: str  # none, recommend, transition, revert
    message: str
    status: Status


def _record(conn: psycopg.Connection, phase: str, event: str, status: Status, reason: str,
            now: dt.datetime) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO judge_phase_events (phase, event, kappa, pairs, reason, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [phase, event, status.agreement.kappa, status.agreement.pairs, reason, now],
    )


def evaluate(
    conn: psycopg.Connection, settings: Settings, now: dt.datetime, *, apply: bool = False
) -> Decision:
    current = status(conn, settings, now)
    kappa = current.kappa_or_agreement
    if not current.enough or kappa is None:
        return Decision("none", f"{current.agreement.pairs} doc pairs in the window; "
                        f"{current.min_pairs} needed before deciding", current)  # fmt: skip
    if current.phase.name == SINGLE:
        if current.health == "LOW":
            reason = f"spot-check kappa {kappa:.3f} < kappa_fallback {current.target}"
            _record(conn, DUAL, "revert", current, reason, now)
            return Decision("revert", f"reverted to phase 1 (dual judge): {reason}", current)
        shown = "undefined (all one class)" if current.agreement.degenerate else f"{kappa:.3f}"
        return Decision("none", f"phase 2 healthy: spot-check kappa {shown}", current)
    if current.health != "READY":
        return Decision("none", f"phase 1: kappa {kappa:.3f} < {current.target}", current)
    reason = f"kappa {kappa:.3f} >= kappa_threshold {current.target}"
    if not apply:
        return Decision("recommend", f"ready for phase 2 ({reason}); run with --apply", current)
    _record(conn, SINGLE, "transition", current, reason, now)
    return Decision("transition", f"moved to phase 2 (one judge + spot checks): {reason}",
                    current)  # fmt: skip
