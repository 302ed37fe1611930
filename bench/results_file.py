"""One shape for every benchmark result, so one generator (bench/readme_table.py) renders them.

    {"title": str, "machine": str, "date": str, "versions": {name: version},
     "columns": [str], "rows": [[value, ...]], "command": str, ...details}

Extra keys (a benchmark's full figures) are kept in the file and left out of the README.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """CPU model, cores and the load when the run started: the machine is shared."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load {load:.1f} at start, {platform.system()}"


def versions(*packages: str, postgres_url: str | None = None) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("cognitive-memory", *packages):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    if postgres_url:
        import psycopg

        with psycopg.connect(postgres_url) as conn:
            found["postgresql"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
            row = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            if row:
                found["pgvector"] = row[0]
            # Shared memory on 2 MB pages makes vector searches ~0.9x (provisioning/huge_pages.py)
            pages = conn.execute("SELECT current_setting('huge_pages_status', true)").fetchone()
            if pages[0]:
                found["huge pages"] = pages[0]
    return found


def show(title: str, columns: list[str], rows: list[list]) -> None:
    """Print the rows as a table: the first column names the row, the rest are figures."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    Console(width=max(Console().width, 130)).print(table)


def write(
    name: str,
    *,
    title: str,
    columns: list[str],
    rows: list[list],
    versions: dict[str, str],
    details: dict | None = None,
    machine_text: str | None = None,
) -> Path:
    """bench/results/<name>.json; the command is this process's own command line."""
    document = {
        "title": title,
        "machine": machine_text or machine(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions,
        "columns": columns,
        "rows": rows,
        "command": " ".join(["python", *_relative(sys.argv)]),
        **(details or {}),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def _relative(argv: list[str]) -> list[str]:
    repo = RESULTS.parents[1]
    # is_relative_to, not a string prefix: /work/tree-keep is not inside /work/tree
    return [
        str(Path(arg).relative_to(repo)) if Path(arg).is_relative_to(repo) else arg for arg in argv
    ]
