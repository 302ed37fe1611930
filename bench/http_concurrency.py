"""Concurrent clients over Streamable HTTP: throughput, latency and the server's peak RSS.

The server runs as the systemd unit runs it (`cognitive-memory serve --transport http`, bearer
token, development config with the hashing embedder) on a private embedded cluster. The
store is filled with generated insights (bench/hybrid_search.py's loader, HNSW built after
the load), then 1 and then N clients, each its own official MCP client session over HTTP,
send hybrid_search calls (top 10) back to back. Throughput is calls per second of wall time;
RSS is the server process (not PostgreSQL), sampled every 50 ms.

Each client first starts its session as a real client does (initialize, then tools/list,
whose output schemas the official client compiles into validators) and waits until every
client has; only then are calls timed. Without that, each client's first call carried its
session start, and under 16 simultaneous starts those 16 calls were the slowest 2 % of the
run: they made the p99 (the slowest session start is reported in its own column).

`--embedder local` has the server embed each query with the offline MiniLM model (the
`local` extra), as a user without an API key runs it; the store is filled with hashing
vectors of the same dimension either way (the latency of a search does not depend on where
the stored vectors came from). The production default, a remote OpenAI-compatible API, adds
that service's round trip per query that is not in the query cache.

    python bench/http_concurrency.py [--insights 10000] [--clients 1 16] [--calls 50]
                                     [--pool-max 5 2 16] [--embedder hashing|local]

With several --pool-max values the server is restarted with each (database.pool_max_size),
on the same data, and every pool size gets its own rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import psutil
import yaml
from rich.console import Console

from bench import results_file
from bench.hybrid_search import Sentences, load, percentiles

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the server did not listen on {port} within {timeout} s")


class PeakRss:
    """The largest resident set size of one process while the block runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


async def clients(
    url: str, count: int, queries: list[str]
) -> tuple[list[float], float, list[float]]:
    """(call latencies ms, wall s of the timed calls, session start ms per client)."""
    from mcp_server.client import connect

    latencies: list[float] = []
    starts: list[float] = []
    all_started = anyio.Event()

    async def one(offset: int) -> None:
        started = time.perf_counter()
        async with connect(url=url, token=TOKEN, environment="development") as client:
            await client.list_tools()
            starts.append((time.perf_counter() - started) * 1000)
            if len(starts) == count:
                all_started.set()
            await all_started.wait()
            for i in range(len(queries)):
                query = queries[(offset + i) % len(queries)]
                started = time.perf_counter()
                result = await client.call_tool("hybrid_search", {"query_text": query, "top_k": 10})
                latencies.append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result.content

    async with anyio.create_task_group() as group:
        for offset in range(count):
            group.start_soon(one, offset * 7)
        await all_started.wait()
        started = time.perf_counter()
    return latencies, time.perf_counter() - started, starts


def start_server(
    folder: Path, pool_max: int, embedder: str = "hashing"
) -> tuple[subprocess.Popen, int]:
    """`serve --transport http` as the unit runs it, with this pool size and embedder."""
    config = folder / "config"
    settings = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    settings["base"]["database"]["pool_max_size"] = pool_max
    if embedder == "local":
        settings["development"]["embedding"] = {
            "provider": "local",
            "model": "all-MiniLM-L6-v2",
            "dimension": 384,
        }
    (config / "config.yaml").write_text(yaml.safe_dump(settings))
    port = free_port()
    env = {**os.environ, "COGMEM_CONFIG_DIR": str(config), "COGMEM_LOG_LEVEL": "WARNING"}
    env.pop("ENVIRONMENT", None)
    command = ["-m", "mcp_server.cli", "serve", "--transport", "http", "--port", str(port)]
    log = (folder / f"server-{pool_max}.log").open("w")
    server = subprocess.Popen([sys.executable, *command], env=env, stderr=log)
    wait_for_port(port)
    return server, port


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insights", type=int, default=10_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--calls", type=int, default=50, help="hybrid_search calls per client")
    parser.add_argument(
        "--pool-max", type=int, nargs="+", default=[5], help="database.pool_max_size to try"
    )
    parser.add_argument(
        "--embedder", choices=["hashing", "local"], default="hashing", help="the server's"
    )
    args = parser.parse_args()
    machine_text = results_file.machine()
    folder = Path(tempfile.mkdtemp(prefix="cogmem-http-bench-"))
    os.environ["COGMEM_DATA_DIR"] = str(folder / "data")
    (folder / "config").mkdir()
    (folder / "config" / ".env.development").write_text(f"MCP_HTTP_TOKEN={TOKEN}\n")
    (folder / "config" / ".env.development").chmod(0o600)
    rows = []
    try:
        for number, pool_max in enumerate(args.pool_max):
            server, port = start_server(folder, pool_max, args.embedder)
            try:
                if number == 0:  # the server made and migrated the database: fill it once
                    fill(args.insights)
                rows += measure(server, port, pool_max, args)
            finally:
                stop(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results_file.show(
        f"hybrid_search over Streamable HTTP, {args.insights:,} insights", COLUMNS, rows
    )
    results_file.write(
        "http_concurrency",
        title=f"Concurrent clients over Streamable HTTP (bearer token), hybrid_search top 10, "
        f"{args.insights:,} insights, 384 dims, {args.embedder} query embedder",
        columns=COLUMNS,
        rows=rows,
        versions=results_file.versions("mcp", "uvicorn", "psycopg"),
        machine_text=machine_text,
    )


COLUMNS = [
    "pool max",
    "clients",
    "calls",
    "calls/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "server peak RSS MiB",
    "session start max ms",
]


def fill(insights: int) -> None:
    from mcp_server.db.embedded import embedded_url
    from mcp_server.providers.hashing import HashingEmbedder

    console.print(f"loading {insights:,} insights…")
    load(embedded_url("cognitive_memory_dev"), insights, HashingEmbedder(dimension=384))


def measure(server: subprocess.Popen, port: int, pool_max: int, args) -> list[list]:
    sentences = Sentences(seed=3)
    queries = [sentences.make(2, 3) for _ in range(args.calls)]
    url = f"http://127.0.0.1:{port}/mcp"
    anyio.run(clients, url, 1, queries[:5])  # warm the pool and the planner
    rows = []
    for count in args.clients:
        with PeakRss(server.pid) as rss:
            latencies, wall, starts = anyio.run(clients, url, count, queries)
        stats = percentiles(latencies)
        rows.append(
            [
                pool_max,
                count,
                len(latencies),
                round(len(latencies) / wall, 1),
                round(stats["p50_ms"], 1),
                round(stats["p95_ms"], 1),
                round(stats["p99_ms"], 1),
                round(rss.peak / 2**20),
                round(max(starts), 1),
            ]
        )
        console.print(f"pool {pool_max}, {count} clients: {rows[-1]}")
    return rows


if __name__ == "__main__":
    main()
