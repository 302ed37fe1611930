"""Daily drift check: the golden test set through hybrid search, against the recent baseline.

`python -m mcp_server.monitoring.drift_check [--json]` (cron, 04:00) runs every golden query,
computes precision@5, recall@5 and MRR, writes the day's row to model_drift_log, and flags
drift when precision@5 is more than drift.tolerance below the mean of the last
drift.baseline_days days. Drift alerts through the budget alert channels (mail, Slack).

Exit status: 0 stable (or no golden set yet), 1 drift, 2 an error (one line on stderr).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import anyio
from pydantic import BaseModel, Field

from mcp_server.memory import l2

TOP_K = 5
EXIT_STABLE, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class DriftResult:
    num_queries: int
    precision_at_5: float
    recall_at_5: float
    mrr: float
    baseline_p5: float | None
    avg_retrieval_time_ms: float
    drift_detected: bool


def precision_at_k(found: list[int], expected: list[int], k: int = TOP_K) -> float:
    return len(set(found[:k]) & set(expected)) / k


def recall_at_k(found: list[int], expected: list[int], k: int = TOP_K) -> float:
    return len(set(found[:k]) & set(expected)) / len(set(expected)) if expected else 0.0


def reciprocal_rank(found: list[int], expected: list[int]) -> float:
    wanted = set(expected)
    return next((1 / rank for rank, i in enumerate(found, 1) if i in wanted), 0.0)


async def _golden(conn) -> list[tuple[str, list[int]]]:
    cursor = await conn.execute("SELECT query, expected_docs FROM golden_test_set ORDER BY id")
    return await cursor.fetchall()


async def _baseline(conn, days: int, today: dt.date) -> float | None:
    cursor = await conn.execute(
        "SELECT avg(precision_at_5)::float FROM model_drift_log "
        "WHERE date >= %s::date - %s::int AND date < %s::date",
        [today, days, today],
    )
    return (await cursor.fetchone())[0]


async def measure(conn, settings, embedder, today: dt.date | None = None) -> DriftResult | None:
    golden = await _golden(conn)
    if not golden:
        return None
    p5, r5, rr, timings = [], [], [], []
    for query, expected in golden:
        started = time.perf_counter()
        [vector] = await embedder.embed([query])
        hits = await l2.hybrid_search(
            conn, query_text=query, embedding=vector, **l2.configured(settings.search, top_k=TOP_K)
        )
        timings.append((time.perf_counter() - started) * 1000)
        found = [h.id for h in hits]
        p5.append(precision_at_k(found, expected))
        r5.append(recall_at_k(found, expected))
        rr.append(reciprocal_rank(found, expected))
    drift = settings.drift
    precision = statistics.fmean(p5)
    baseline = await _baseline(conn, drift.baseline_days, today or dt.date.today())
    drifted = baseline is not None and precision < baseline - drift.tolerance
    return DriftResult(len(golden), precision, statistics.fmean(r5), statistics.fmean(rr),
                       baseline, statistics.fmean(timings), drifted)  # fmt: skip


async def record(conn, result: DriftResult, embedding_model: str,
                 today: dt.date | None = None) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO model_drift_log (date, precision_at_5, recall_at_5, mrr, num_queries, "
        "avg_retrieval_time_ms, embedding_model, baseline_p5, drift_detected) "
        "VALUES (coalesce(%s, current_date), %s, %s, %s, %s, %s, %s, %s, %s)",
        [today, result.precision_at_5, result.recall_at_5, result.mrr, result.num_queries,
         result.avg_retrieval_time_ms, embedding_model, result.baseline_p5,
         result.drift_detected],
    )  # fmt: skip


class GoldenRun(BaseModel):
    date: dt.date
    precision_at_5: float
    recall_at_5: float | None
    mrr: float | None = Field(description="Mean reciprocal rank of the first expected insight")
    num_queries: int
    baseline_p5: float | None = Field(description="Mean precision@5 of the days before")
    drift_detected: bool
    avg_retrieval_time_ms: float | None
    embedding_model: str | None


class GoldenTestResults(BaseModel):
    latest: GoldenRun | None = Field(description="The latest drift check; null if none ran yet")
    trend: list[GoldenRun] = Field(description="Recent drift checks, newest first")
    mean_precision_at_5: float | None = Field(description="Mean precision@5 over the trend")


async def golden_results(conn, runs: int = 30) -> GoldenTestResults:
    """The last `runs` drift checks from model_drift_log, newest first: one indexed read."""
    cursor = await conn.execute(
        "SELECT date, precision_at_5, recall_at_5, mrr, num_queries, baseline_p5, "
        "drift_detected, avg_retrieval_time_ms, embedding_model "
        "FROM model_drift_log ORDER BY date DESC, id DESC LIMIT %s",
        [runs],
    )
    names = [c.name for c in cursor.description]
    trend = [GoldenRun(**dict(zip(names, row, strict=True))) for row in await cursor.fetchall()]
    mean = statistics.fmean(r.precision_at_5 for r in trend) if trend else None
    return GoldenTestResults(latest=trend[0] if trend else None, trend=trend,
                             mean_precision_at_5=mean)  # fmt: skip


async def run(started) -> DriftResult | None:
    from mcp_server.db.connection import open_pool
    from mcp_server.providers.costs import pool_cost_sink
    from mcp_server.providers.factory import close_provider, make_embedder

    pool = await open_pool(started.settings, started.database_url)
    embedder = make_embedder(started.settings, pool_cost_sink(pool))
    try:
        async with pool.connection() as conn:
            result = await measure(conn, started.settings, embedder)
            if result is not None:
                await record(conn, result, embedder.model)
        return result
    finally:
        await close_provider(embedder)
        await pool.close()


def describe(result: DriftResult, tolerance: float) -> str:
    baseline = "none yet" if result.baseline_p5 is None else f"{result.baseline_p5:.3f}"
    verdict = (f"DRIFT (more than {tolerance} below the baseline)" if result.drift_detected
               else "stable")  # fmt: skip
    return (
        f"precision@5 {result.precision_at_5:.3f}, recall@5 {result.recall_at_5:.3f}, "
        f"MRR {result.mrr:.3f} over {result.num_queries} queries (baseline {baseline}, "
        f"{result.avg_retrieval_time_ms:.1f} ms/query): {verdict}"
    )


def alert(settings, text: str) -> list[str]:
    from mcp_server.budget.alerts import channels, send

    if not channels(settings):
        print("warning: drift, but no alert channel is configured (SMTP_HOST + ALERT_EMAIL_TO "
              "or SLACK_WEBHOOK_URL in the env file)", file=sys.stderr)  # fmt: skip
        return []
    try:
        return send(settings, f"Cognitive Memory drift on {settings.database.name}: {text}")
    except Exception as error:  # the drift stands (exit 1) even when the mail does not go out
        print(f"warning: drift alert not sent: {error}", file=sys.stderr)
        return []


def main(argv: list[str] | None = None) -> int:
    from mcp_server.errors import report
    from mcp_server.runtime import start

    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        started = start()
        result = anyio.run(run, started)
        if result is None:
            print("The golden test set is empty: nothing to check yet "
                  "(cognitive-memory golden add|import|bootstrap).")  # fmt: skip
            return EXIT_STABLE
        text = describe(result, started.settings.drift.tolerance)
        sent = alert(started.settings, text) if result.drift_detected else []
    except Exception as error:  # cron reads the exit status: 2 is "it did not run"
        report(error)
        return EXIT_ERROR
    if as_json:
        print(json.dumps({**asdict(result), "alerted_via": sent}))
    else:
        print(text + (f" (alerted via {', '.join(sent)})" if sent else ""))
    return EXIT_DRIFT if result.drift_detected else EXIT_STABLE


if __name__ == "__main__":
    sys.exit(main())
