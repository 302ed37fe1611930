"""Daily drift check: precision@5 of the golden test set against the recent baseline.

`python -m mcp_server.monitoring.drift_check` (cron, 04:00). Exit 0 when stable (or when
there is no golden set yet), 1 when precision dropped by more than the tolerance.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import anyio

from mcp_server.memory import l2

TOP_K = 5
BASELINE_DAYS = 7
TOLERANCE = 0.05  # absolute drop in precision@5 that counts as drift


@dataclass(frozen=True)
class DriftResult:
    num_queries: int
    precision_at_5: float
    baseline_p5: float | None
    avg_retrieval_time_ms: float
    drift_detected: bool


def precision_at_k(found: list[int], expected: list[int], k: int = TOP_K) -> float:
    return len(set(found[:k]) & set(expected)) / k


async def _golden(conn) -> list[tuple[str, list[int]]]:
    cursor = await conn.execute("SELECT query, expected_docs FROM golden_test_set ORDER BY id")
    return await cursor.fetchall()


async def _baseline(conn) -> float | None:
    cursor = await conn.execute(
        "SELECT avg(precision_at_5)::float FROM model_drift_log "
        "WHERE date >= current_date - %s::int AND date < current_date",
        [BASELINE_DAYS],
    )
    return (await cursor.fetchone())[0]


async def measure(conn, settings, embedder) -> DriftResult | None:
    golden = await _golden(conn)
    if not golden:
        return None
    scores, timings = [], []
    search = settings.search
    for query, expected in golden:
        started = time.perf_counter()
        [vector] = await embedder.embed([query])
        hits = await l2.hybrid_search(
            conn, query_text=query, embedding=vector, top_k=TOP_K,
            semantic_weight=search.weights.semantic, keyword_weight=search.weights.keyword,
            rrf_k=search.rrf_k, candidates=search.candidates,
            text_search_config=search.text_search_config,
        )  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
        scores.append(precision_at_k([h.id for h in hits], expected))
    p5 = statistics.fmean(scores)
    baseline = await _baseline(conn)
    drift = baseline is not None and p5 < baseline - TOLERANCE
    return DriftResult(len(golden), p5, baseline, statistics.fmean(timings), drift)


async def record(conn, result: DriftResult, embedding_model: str) -> None:
    await conn.execute(
        "INSERT INTO model_drift_log (precision_at_5, num_queries, avg_retrieval_time_ms, "
        "embedding_model, baseline_p5, drift_detected) VALUES (%s, %s, %s, %s, %s, %s)",
        [result.precision_at_5, result.num_queries, result.avg_retrieval_time_ms,
         embedding_model, result.baseline_p5, result.drift_detected],
    )  # fmt: skip


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


def main(argv: list[str] | None = None) -> int:
    from mcp_server.cli import user_errors
    from mcp_server.runtime import start

    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    result = user_errors(lambda: anyio.run(run, start()))()
    if result is None:
        print("The golden test set is empty: nothing to check yet.")
        return 0
    if as_json:
        print(json.dumps(asdict(result)))
    else:
        baseline = "none yet" if result.baseline_p5 is None else f"{result.baseline_p5:.3f}"
        verdict = "DRIFT" if result.drift_detected else "stable"
        timing = f"{result.avg_retrieval_time_ms:.1f} ms/query"
        print(f"precision@5 {result.precision_at_5:.3f} over {result.num_queries} queries "
              f"(baseline {baseline}, {timing}): {verdict}")  # fmt: skip
    return 1 if result.drift_detected else 0


if __name__ == "__main__":
    sys.exit(main())
