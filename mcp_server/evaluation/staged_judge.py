"""Which judging stage the system is in, from the agreement of the dual judges so far.

Dual judging runs until Cohen's kappa over recent ground truth reaches kappa_threshold;
then one judge plus spot checks (spot_check_rate); below kappa_fallback it returns to dual.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

RECENT = 50  # ground-truth rows the decision looks at


@dataclass(frozen=True)
class StageStatus:
    ground_truth_rows: int
    recent_kappa: float | None
    stage: str  # "dual" or "single+spot-checks"


def status(conn: psycopg.Connection, kappa_threshold: float) -> StageStatus:
    total = conn.execute("SELECT count(*) FROM ground_truth").fetchone()[0]
    kappa = conn.execute(
        "SELECT avg(kappa)::float FROM (SELECT kappa FROM ground_truth WHERE kappa IS NOT NULL "
        "ORDER BY created_at DESC LIMIT %s) AS recent",
        [RECENT],
    ).fetchone()[0]
    single = kappa is not None and total >= RECENT and kappa >= kappa_threshold
    return StageStatus(total, kappa, "single+spot-checks" if single else "dual")
