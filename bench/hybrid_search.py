"""hybrid_search latency over MCP at 10k and 100k insights, HNSW against an exact scan.

Data: generated sentences (8-20 words drawn Zipf-like from a fixed 5000-word vocabulary,
seeded), embedded with the hashing embedder, which the development config uses and which
embeds each query inside the tool as well. Loaded with binary COPY into a fresh database
on a private embedded cluster; the HNSW index is built after the load.

Each query is a `hybrid_search` tool call through the official client connected in memory
(the full MCP path minus a transport), top_k=10. The exact baseline is the same call after
the HNSW index is dropped, so the vector branch scans every row; "agree@k" is the share of
the HNSW answer's top k that the exact answer also returns.

    python bench/hybrid_search.py [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from mcp import Client
from pgvector.psycopg import register_vector
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
TOP_K = 10
BATCH = 5000
console = Console(stderr=True)


def vocabulary(size: int = 5000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "gi"]
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(words)


class Sentences:
    """Deterministic word streams whose frequencies fall off like natural language."""

    def __init__(self, seed: int) -> None:
        self.words = vocabulary()
        self.weights = [1 / (rank + 1) for rank in range(len(self.words))]
        self.rng = random.Random(seed)

    def make(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=self.rng.randint(low, high)))


def load(url: str, size: int, embedder) -> dict[str, float]:
    from mcp_server.db import migrator

    sentences = Sentences(seed=size)
    timings = {}
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=embedder.dimension)
        register_vector(conn)
        conn.execute(f"DROP INDEX l2_insights_embedding_{embedder.dimension}_hnsw")
        started = time.perf_counter()
        copy_sql = (
            "COPY l2_insights (content, embedding, embedding_model) FROM STDIN (FORMAT BINARY)"
        )
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["text", "vector", "text"])
            for offset in range(0, size, BATCH):
                texts = [sentences.make(8, 20) for _ in range(min(BATCH, size - offset))]
                for text, vector in zip(texts, embedder.embed_sync(texts), strict=True):
                    copy.write_row((text, np.asarray(vector, dtype=np.float32), embedder.model))
        timings["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        # pgvector builds faster when the whole graph fits in maintenance memory.
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
        migrator.ensure_vector_indexes(conn, embedder.dimension)
        conn.execute("VACUUM ANALYZE l2_insights")
        timings["index_s"] = time.perf_counter() - started
    return timings


async def measure(server, queries: list[str]) -> tuple[list[float], list[list[int]]]:
    latencies, answers = [], []
    async with Client(server, cache=None) as client:
        for query in queries[:10]:  # warm the pool, caches and prepared statements
            await client.call_tool("hybrid_search", {"query_text": query, "top_k": TOP_K})
        for query in queries:
            started = time.perf_counter()
            result = await client.call_tool("hybrid_search", {"query_text": query, "top_k": TOP_K})
            latencies.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result.content
            answers.append([hit["id"] for hit in result.structured_content["results"]])
    return latencies, answers


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
        "mean_ms": statistics.fmean(values),
    }


def agreement(approximate: list[list[int]], exact: list[list[int]]) -> float:
    shares = [
        len(set(a) & set(e)) / max(len(e), 1) for a, e in zip(approximate, exact, strict=True)
    ]
    return statistics.fmean(shares)


def run_size(size: int, queries: list[str], admin_url: str) -> dict:
    from mcp_server.config import load_settings
    from mcp_server.providers.hashing import HashingEmbedder
    from mcp_server.runtime import Runtime
    from mcp_server.server import build_server

    name = f"bench_hybrid_{size}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = admin_url.replace("/postgres?", f"/{name}?")
    try:
        base = load_settings("development", REPO / "config", secrets=False)
        settings = base.model_copy(
            update={
                "database": base.database.model_copy(update={"name": name}),
                "secrets": {"DATABASE_URL": SecretStr(url)},
            }
        )
        embedder = HashingEmbedder(settings.embedding.model, settings.embedding.dimension)
        console.print(f"[bold]{size:,} insights[/]: loading…")
        timings = load(url, size, embedder)
        server = build_server(Runtime(settings, url))
        console.print(
            f"  loaded in {timings['load_s']:.1f} s, index in {timings['index_s']:.1f} s; HNSW…"
        )
        hnsw, hnsw_answers = asyncio.run(measure(server, queries))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX l2_insights_embedding_{embedder.dimension}_hnsw")
        console.print("  exact scan…")
        exact, exact_answers = asyncio.run(measure(server, queries))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return {
        "insights": size,
        **timings,
        "hnsw": percentiles(hnsw),
        "exact": percentiles(exact),
        "agree_at_k": agreement(hnsw_answers, exact_answers),
    }


def report(results: list[dict], args: argparse.Namespace) -> None:
    table = Table(
        title=f"hybrid_search over MCP (in memory), top_k={TOP_K}, {args.queries} queries"
    )
    for column in (
        "insights",
        "vector branch",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "agree@k",
        "load s",
        "index s",
    ):
        table.add_column(column, justify="left" if column == "vector branch" else "right")
    for result in results:
        for mode in ("hnsw", "exact"):
            stats = result[mode]
            table.add_row(
                f"{result['insights']:,}",
                "HNSW" if mode == "hnsw" else "exact scan",
                f"{stats['p50_ms']:.1f}",
                f"{stats['p95_ms']:.1f}",
                f"{stats['p99_ms']:.1f}",
                f"{result['agree_at_k']:.3f}" if mode == "hnsw" else "ref",
                f"{result['load_s']:.1f}" if mode == "hnsw" else "",
                f"{result['index_s']:.1f}" if mode == "hnsw" else "",
            )
    Console().print(table)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "hybrid_search",
        "data": "generated Zipf-like sentences, hashing embedder (384 dims)",
        "transport": "MCP in-memory client",
        "top_k": TOP_K,
        "queries": args.queries,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    (out / "hybrid_search.json").write_text(json.dumps(document, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    # A private cluster, so a benchmark never touches the user's own memories.
    os.environ["COGMEM_DATA_DIR"] = tempfile.mkdtemp(prefix="cogmem-bench-")
    from mcp_server.db.embedded import embedded_url
    from mcp_server.log import configure_logging

    configure_logging("WARNING")

    sentences = Sentences(seed=1)
    queries = [sentences.make(2, 3) for _ in range(args.queries)]
    admin_url = embedded_url("postgres")
    report([run_size(size, queries, admin_url) for size in args.sizes], args)


if __name__ == "__main__":
    main()
