"""store_dual_judge_scores over 50 docs: wall time against judges with realistic latency.

Both judges (the real openai and anthropic SDKs) talk to a local server in their wire
formats that answers each call after a random 0.4-1.2 s, about what GPT-4o and Haiku take
for a short JSON answer. The tool call goes through the official MCP client (in memory) into
a private embedded PostgreSQL. 50 docs x 2 judges = 100 calls; each judge_concurrency is run
`--runs` times and the median reported, with one call in flight as the baseline of the same
run. A client's tool timeout is about 60 s.

    python bench/dual_judge.py [--docs 50] [--concurrency 1 4 8 16] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import psycopg
from mcp import Client
from pydantic import SecretStr
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
console = Console(stderr=True)
LATENCY_S = (0.4, 1.2)


async def one_run(settings, url, docs: list[str]) -> tuple[float, int]:
    from mcp_server.runtime import Runtime
    from mcp_server.server import build_server

    updates = []

    async def progress(done, total, message):
        updates.append(done)

    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        started = time.perf_counter()
        result = await client.call_tool(
            "store_dual_judge_scores", {"query": "green tea", "docs": docs},
            read_timeout_seconds=600, progress_callback=progress,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
    assert not result.is_error, result.content
    return elapsed, len(updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    from bench import scratch

    scratch.private_cluster()
    from mcp_server.config import load_settings
    from mcp_server.db import migrator
    from mcp_server.db.embedded import embedded_url
    from mcp_server.log import configure_logging
    from tests.support.evaluation import evaluation_settings, with_section
    from tests.support.fake_model_servers import fake_model_server, judge_by_keyword

    configure_logging("WARNING")
    admin = embedded_url("postgres")
    name = "bench_dual_judge"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.replace("/postgres?", f"/{name}?")
    base = load_settings("development", REPO / "config", secrets=False)
    base = base.model_copy(update={"database": base.database.model_copy(update={"name": name}),
                                   "secrets": {"DATABASE_URL": SecretStr(url)}})  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=base.embedding.dimension)
    docs = [f"document {i} about {'green tea' if i % 3 == 0 else 'the cello'}"
            for i in range(args.docs)]  # fmt: skip
    rows = []
    with fake_model_server() as server:
        server.reply = judge_by_keyword("tea")
        server.latency_s = LATENCY_S
        settings = evaluation_settings(base, server)
        for concurrency in args.concurrency:
            tuned = with_section(settings, "evaluation", judge_concurrency=concurrency)
            times = []
            for _ in range(args.runs):
                elapsed, updates = asyncio.run(one_run(tuned, url, docs))
                times.append(elapsed)
                console.print(f"concurrency {concurrency}: {elapsed:.1f} s, {updates} progress")
            rows.append([concurrency, args.docs * 2, round(statistics.median(times), 2),
                         "yes" if statistics.median(times) < 60 else "no", updates])  # fmt: skip
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    columns = ["judge_concurrency", "judge calls", "median wall s", "inside 60 s",
               "progress notifications"]  # fmt: skip
    from bench import results_file

    title = (f"store_dual_judge_scores, {args.docs} docs, latency "
             f"{LATENCY_S[0]}-{LATENCY_S[1]} s per call")  # fmt: skip
    results_file.show(title, columns, rows)
    results_file.write(
        "dual_judge", title=title, columns=columns, rows=rows,
        versions=results_file.versions("mcp", "openai", "anthropic"),
        details={"latency_s": LATENCY_S, "docs": args.docs},
    )  # fmt: skip


if __name__ == "__main__":
    main()
