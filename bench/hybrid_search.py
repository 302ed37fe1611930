"""hybrid_search latency over MCP at 1k to 100k insights and 384 / 1536 dims, HNSW against exact.

Data: generated sentences (8-20 words drawn Zipf-like from a fixed 5000-word vocabulary,
seeded), embedded with the hashing embedder, which the development config uses and which
embeds each query inside the tool as well. Loaded with binary COPY into a fresh database
on a private embedded cluster; the HNSW index is built after the load.

Each query is a `hybrid_search` tool call through the official client connected in memory
(the full MCP path minus a transport), top_k=10, after WARM_UP other queries (a server's
steady state: the graph in PostgreSQL's cache). The exact baseline is the same call after
the HNSW index is dropped, so the vector branch scans every row; "agree@k" is the share of
the HNSW answer's top k that the exact answer also returns. "vector recall@10" is the vector
branch alone (the nearest 10 by cosine, at the hnsw.ef_search the tool sets) against an exact
scan of the same table, and the NumPy row is a brute-force dot product over all vectors in
memory (the floor any exact search pays). Growth: the exponent of p50 and p99 against the size
(p ~ size^e, least squares on the logarithms).

    python bench/hybrid_search.py [--sizes 1000 10000 100000] [--dims 384 1536] [--queries 200]

With `--keep DIR` the private cluster lives in DIR and every loaded and indexed database is
kept there and reused by the next run with the same size and dimension: a 1M-row database
is built once (half an hour on 2 cores) and measured later on a quiet machine. Kept
databases skip the exact scan, because it drops the index.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
import psycopg
from mcp import Client
from pgvector.psycopg import register_vector
from psycopg import sql
from pydantic import SecretStr
from rich.console import Console

from bench import results_file, scratch
from mcp_server.memory import l2

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


def load(url: str, size: int, embedder) -> tuple[dict[str, float], np.ndarray]:
    from mcp_server.db import migrator

    sentences = Sentences(seed=size)
    timings = {}
    matrix = np.zeros((size, embedder.dimension), dtype=np.float32)
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=embedder.dimension)
        register_vector(conn)
        conn.execute(f"DROP INDEX {migrator.vector_index_name('l2_insights', embedder.dimension)}")
        started = time.perf_counter()
        copy_sql = (
            "COPY l2_insights (content, embedding, embedding_model) FROM STDIN (FORMAT BINARY)"
        )
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["text", "vector", "text"])
            for offset in range(0, size, BATCH):
                texts = [sentences.make(8, 20) for _ in range(min(BATCH, size - offset))]
                vectors = np.asarray(embedder.embed_sync(texts), dtype=np.float32)
                matrix[offset : offset + len(texts)] = vectors
                for text, vector in zip(texts, vectors, strict=True):
                    copy.write_row((text, vector, embedder.model))
        timings["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        # pgvector builds faster when the whole graph fits in maintenance memory.
        conn.execute(*migrator.room_for_the_graph(size, embedder.dimension, local=False))
        conn.execute(f"SET max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
        migrator.ensure_vector_indexes(conn, embedder.dimension)
        conn.execute("VACUUM ANALYZE l2_insights")
        timings["index_s"] = time.perf_counter() - started
    return timings, matrix


COMPLETE = "loaded and indexed by bench/hybrid_search.py"


def kept(admin_url: str, url: str, name: str, dimension: int) -> np.ndarray | None:
    """The vectors of a database a `--keep` run completed, or None when there is none."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    if not row or row[0] != COMPLETE:
        return None
    with psycopg.connect(url) as conn:
        register_vector(conn)
        rows = conn.execute(f"SELECT embedding::vector({dimension}) FROM l2_insights ORDER BY id")
        return np.stack([vector for (vector,) in rows]).astype(np.float32)


def vector_recall(url: str, vectors: list[list[float]], ef_search: int) -> float:
    """The vector branch alone: HNSW top 10 at `ef_search` against an exact scan.

    Tie-aware: short queries of the hashing embedder give many rows the same distance, so an
    HNSW result counts as correct when it is no farther than the exact 10th neighbour.
    """
    from mcp_server.db import migrator

    dim = len(vectors[0])
    # The tool's vector branch orders as the index does (half precision) and reports each
    # row's exact distance; the exact answer orders by that full-precision distance.
    statement = sql.SQL(
        "SELECT embedding::vector({dim}) <=> %(embedding)s AS distance FROM l2_insights "
        "WHERE embedding_dim = {dim} ORDER BY {order} LIMIT {top_k}"
    )
    nearest = statement.format(dim=dim, order=migrator.vector_order(dim), top_k=TOP_K)
    exactly = statement.format(dim=dim, order=sql.SQL("distance"), top_k=TOP_K)
    shares = []
    # Unprepared, and in autocommit so each `transaction()` is a real one: a prepared plan
    # made while `enable_indexscan = off` is reused whatever the setting later is, and a
    # savepoint keeps SET LOCAL until the outer transaction ends. Either way the "HNSW"
    # answers were exact scans: recall read 0.995 at 100k where the index gives 0.88.
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        for vector in vectors:
            query = np.asarray(vector, dtype=np.float32)
            with conn.transaction():
                conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
                for name, value in l2.PLANNER.items():  # as the tool plans it (1536 dims)
                    conn.execute(f"SET LOCAL {name} = {value}")
                found = conn.execute(nearest, {"embedding": query}, prepare=False)
                approximate = [row[0] for row in found]
            with conn.transaction():
                conn.execute("SET LOCAL enable_indexscan = off")
                found = conn.execute(exactly, {"embedding": query}, prepare=False)
                exact = [row[0] for row in found]
            if exact:
                kth = exact[-1] + 1e-6
                shares.append(sum(d <= kth for d in approximate) / len(exact))
    return statistics.fmean(shares)


def numpy_baseline(matrix: np.ndarray, vectors: list[list[float]]) -> dict[str, float]:
    """Brute force in memory: one matrix-vector product and a partial sort per query."""
    latencies = []
    for vector in vectors:
        query = np.asarray(vector, dtype=np.float32)
        started = time.perf_counter()
        scores = matrix @ query
        np.argpartition(-scores, TOP_K)[:TOP_K]
        latencies.append((time.perf_counter() - started) * 1000)
    return percentiles(latencies)


async def measure(
    server, queries: list[str], warm_up: list[str]
) -> tuple[list[float], list[list[int]]]:
    """Each query's latency and answer ids, after `warm_up` (other queries) ran unmeasured."""
    latencies, answers = [], []
    async with Client(server, cache=None) as client:
        for query in warm_up:
            await client.call_tool("hybrid_search", {"query_text": query, "top_k": TOP_K})
        for query in queries:
            started = time.perf_counter()
            result = await client.call_tool("hybrid_search", {"query_text": query, "top_k": TOP_K})
            latencies.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result.content
            answers.append([hit["id"] for hit in result.structured_content["results"]])
    return latencies, answers


# A server that has been answering for a while holds the graph in PostgreSQL's cache; a
# freshly built index does not (the build writes its pages past the cache), so each first
# visit to a part of the graph reads it in. The measured queries come after this many other
# ones: at 100k x 1536, ten warm-up calls left p50 11.3-11.7 ms and p99 24-29 ms, 500 gave
# 10.1-10.3 / 19-21 and 2,000 10.1-10.8 / 18-21 (alternating runs on one database, issue 10).
WARM_UP = 500


def warm_up_queries() -> list[str]:
    """Queries of the same kind as the measured ones, from another seed: none is measured."""
    sentences = Sentences(seed=99)
    return [sentences.make(2, 3) for _ in range(WARM_UP)]


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


def run_size(size: int, dimension: int, queries: list[str], admin_url: str, keep: bool) -> dict:
    from mcp_server.config import load_settings
    from mcp_server.db import migrator
    from mcp_server.providers.hashing import HashingEmbedder
    from mcp_server.runtime import Runtime
    from mcp_server.server import build_server

    name = f"bench_hybrid_{size}_{dimension}"
    url = admin_url.replace("/postgres?", f"/{name}?")
    matrix = kept(admin_url, url, name, dimension) if keep else None
    if matrix is None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
    try:
        base = load_settings("development", REPO / "config", secrets=False)
        settings = base.model_copy(
            update={
                "database": base.database.model_copy(update={"name": name}),
                "embedding": base.embedding.model_copy(update={"dimension": dimension}),
                "secrets": {"DATABASE_URL": SecretStr(url)},
            }
        )
        embedder = HashingEmbedder(settings.embedding.model, settings.embedding.dimension)
        if matrix is None:
            console.print(f"[bold]{size:,} insights, {dimension} dims[/]: loading…")
            timings, matrix = load(url, size, embedder)
            console.print(
                f"  loaded in {timings['load_s']:.1f} s, index in {timings['index_s']:.1f} s"
            )
            if keep:
                with psycopg.connect(admin_url, autocommit=True) as admin:
                    admin.execute(f"COMMENT ON DATABASE {name} IS '{COMPLETE}'")
        else:
            console.print(f"[bold]{size:,} insights, {dimension} dims[/]: kept database")
            timings = {"load_s": None, "index_s": None}
            # As a server migrates at start: a database kept by an earlier release gets the
            # current schema (migration 010 rewrites it once, minutes at 100k).
            with psycopg.connect(url, autocommit=True) as conn:
                if done := migrator.migrate(conn, embedding_dim=dimension):
                    console.print(f"  migrated: {', '.join(m.file_name for m in done)}")
        server = build_server(Runtime(settings, url))
        console.print("  HNSW…")
        warm_up = warm_up_queries()
        hnsw, hnsw_answers = asyncio.run(measure(server, queries, warm_up))
        vectors = embedder.embed_sync(queries)
        search = settings.search  # what the tool sets:
        ef_search = max(search.candidates, TOP_K * 4, search.ef_search)
        recall = vector_recall(url, vectors, ef_search)
        brute = numpy_baseline(matrix, vectors)
        if keep:
            return result(size, dimension, timings, hnsw, brute, ef_search, recall)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {migrator.vector_index_name('l2_insights', dimension)}")
            # The server rebuilds a missing index in the background (db.index_upkeep) under
            # this lock; held here, that build waits, so the exact baseline neither shares the
            # CPU with a build nor switches to the new index halfway.
            conn.execute("SELECT pg_advisory_lock(%s)", [migrator.LOCK_KEY])
            console.print("  exact scan…")
            # Reads every row anyway: ten calls warm the pool and the prepared statements.
            exact, exact_answers = asyncio.run(measure(server, queries, warm_up[:10]))
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return {
        **result(size, dimension, timings, hnsw, brute, ef_search, recall),
        "exact": percentiles(exact),
        "agree_at_k": agreement(hnsw_answers, exact_answers),
    }


def result(size, dimension, timings, hnsw, brute, ef_search, recall) -> dict:
    """One size's figures; a kept database has no exact scan, so no agreement either."""
    return {
        "insights": size,
        "dimension": dimension,
        **timings,
        "hnsw": percentiles(hnsw),
        "exact": None,
        "numpy": brute,
        "agree_at_k": None,
        "ef_search": ef_search,
        "vector_recall_at_10": recall,
    }


def growth(results: list[dict], dimension: int, key: str) -> float | None:
    """Exponent e of latency ~ size^e over the sizes measured at one dimension."""
    points = [(r["insights"], r["hnsw"][key]) for r in results if r["dimension"] == dimension]
    if len(points) < 2:
        return None
    sizes, values = (np.log([p[i] for p in points]) for i in (0, 1))
    return float(np.polyfit(sizes, values, 1)[0])


COLUMNS = [
    "insights",
    "dims",
    "search",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "agree@10 vs exact",
    "vector recall@10 (ef_search)",
    "load s",
    "index s",
]


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def table_rows(results: list[dict]) -> list[list]:
    rows = []
    for result in results:
        for mode, label in (
            ("hnsw", "MCP, HNSW"),
            ("exact", "MCP, exact scan"),
            ("numpy", "NumPy brute force"),
        ):
            stats = result[mode]
            if stats is None:  # a kept database: no exact scan
                continue
            first = mode == "hnsw"
            rows.append(
                [
                    result["insights"],
                    result["dimension"],
                    label,
                    round(stats["p50_ms"], 2),
                    round(stats["p95_ms"], 2),
                    round(stats["p99_ms"], 2),
                    rounded(result["agree_at_k"], 3) if first else None,
                    f"{result['vector_recall_at_10']:.3f} ({result['ef_search']})"
                    if first
                    else None,
                    rounded(result["load_s"], 1) if first else None,
                    rounded(result["index_s"], 1) if first else None,
                ]
            )
    return rows


def report(
    results: list[dict], args: argparse.Namespace, machine_text: str, admin_url: str
) -> None:
    results_file.show(
        f"hybrid_search over MCP (in memory), top_k={TOP_K}, {args.queries} queries",
        COLUMNS,
        table_rows(results),
    )
    fits = {
        f"{dim} dims": {key: growth(results, dim, key) for key in ("p50_ms", "p99_ms")}
        for dim in args.dims
    }
    for label, fit in fits.items():
        if fit["p50_ms"] is not None:
            console.print(
                f"growth at {label}: p50 ~ size^{fit['p50_ms']:.2f}, p99 ~ size^{fit['p99_ms']:.2f}"
            )
    results_file.write(
        args.name,
        title=f"hybrid_search latency through the MCP client (in memory) at "
        f"{' and '.join(map(str, args.dims))} dims, top {TOP_K}, {args.queries} queries "
        f"after {WARM_UP} others, hashing embedder; HNSW against "
        + ("NumPy (a kept database: no exact scan)" if args.keep else "an exact scan and NumPy"),
        columns=COLUMNS,
        rows=table_rows(results),
        versions=results_file.versions("mcp", "psycopg", "numpy", postgres_url=admin_url),
        machine_text=machine_text,
        details={"results": results, "growth_exponent": fits, "transport": "MCP in-memory"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 1536])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--name", default="hybrid_search", help="result file bench/results/NAME.json"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="keep the cluster and its loaded databases in DIR and reuse them (no exact scan)",
    )
    args = parser.parse_args()
    if args.keep:
        os.environ["COGMEM_DATA_DIR"] = str(args.keep.resolve())
    else:
        scratch.private_cluster()
    from mcp_server.db.embedded import embedded_url
    from mcp_server.log import configure_logging

    configure_logging("WARNING")

    sentences = Sentences(seed=1)
    queries = [sentences.make(2, 3) for _ in range(args.queries)]
    admin_url = embedded_url("postgres")
    machine_text = results_file.machine()
    results = [
        run_size(size, dim, queries, admin_url, keep=args.keep is not None)
        for dim in args.dims
        for size in args.sizes
    ]
    report(results, args, machine_text, admin_url)


if __name__ == "__main__":
    main()
