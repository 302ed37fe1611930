"""Scheduled jobs under watch: each run's outcome is recorded, and a failure raises an alert.

    cognitive-memory job NAME -- COMMAND [ARGS...]

runs COMMAND with its output passed through (cron sends it to the journal), then writes
<state dir>/NAME.json (ok, exit code, start and end, the last lines of output). The checklist
reads these files: a failed last run is a red line there until the job succeeds again.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

from mcp_server.ops.dumps import write_atomically

TAIL_LINES = 15


@dataclass(frozen=True)
class JobRun:
    job: str
    ok: bool
    exit_code: int
    started_at: str
    finished_at: str
    output_tail: list[str]

    def summary(self) -> str:
        tail = " | ".join(self.output_tail[-5:]) or "no output"
        return f"{self.job} failed (exit {self.exit_code}) at {self.finished_at}: {tail}"


def run(job: str, argv: list[str]) -> JobRun:
    """Run the command, echoing its output, and remember how it ended."""
    started = dt.datetime.now(dt.UTC)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except OSError as error:
        tail.append(f"cannot start {argv[0]}: {error}")
        code = 127
    else:
        with process:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                tail.append(line.rstrip("\n"))
        code = process.returncode
    finished = dt.datetime.now(dt.UTC)
    return JobRun(job, code == 0, code, started.isoformat(timespec="seconds"),
                  finished.isoformat(timespec="seconds"), list(tail))  # fmt: skip


def record(state_dir: Path, result: JobRun) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / f"{result.job}.json"
    write_atomically(path, json.dumps(asdict(result), indent=2) + "\n")
    return path


def last_runs(state_dir: Path) -> list[JobRun]:
    runs = []
    for path in sorted(state_dir.glob("*.json")):
        try:
            runs.append(JobRun(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return runs
