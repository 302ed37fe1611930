"""Export L2 insights as JSON Lines into a git repository: a readable, diffable history.

Embeddings are left out: they are derived data, and `cognitive-memory reembed` rebuilds them.
The words an insight is indexed by besides its content (source words, context) are kept: they
come from raw turns a replay may not have.
dulwich writes the commits, so the hardened service needs no git binary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from dulwich import porcelain
from dulwich.repo import Repo

from mcp_server.ops.export_retention import prune_history

FILE_NAME = "l2_insights.jsonl"
AUTHOR = b"cognitive-memory <cognitive-memory@localhost>"

_SELECT = """
SELECT id, content, source_words, context, source_ids, embedding_model, fidelity_score, metadata,
       created_at
FROM l2_insights ORDER BY id"""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    commit: str | None  # None when nothing changed since the last export
    pruned: int = 0  # commits removed by the history retention


def _lines(conn: psycopg.Connection):
    with conn.cursor(name="l2_export") as cursor:  # server-side: constant memory
        cursor.execute(_SELECT)
        columns = [c.name for c in cursor.description]
        for row in cursor:
            yield json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False)


def _write_atomically(path: Path, lines) -> int:
    temporary = path.with_suffix(".tmp")
    count = 0
    with temporary.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    return count


def _repository(directory: Path) -> Repo:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / ".git").is_dir():
        return Repo(str(directory))
    return porcelain.init(str(directory))


def export_l2(
    conn: psycopg.Connection, directory: Path, database: str, keep_days: int | None = None
) -> ExportResult:
    """Export, commit if anything changed, then fold history older than `keep_days`."""
    repo = _repository(directory)
    with repo:
        path = directory / FILE_NAME
        with conn.transaction():  # a server-side cursor lives in a transaction
            rows = _write_atomically(path, _lines(conn))
        porcelain.add(repo, paths=[str(path)])
        sha = None
        if any(porcelain.status(repo).staged.values()):
            message = f"L2 export of {database} on {dt.date.today().isoformat()}: {rows} insights"
            sha = porcelain.commit(repo, message=message.encode(), author=AUTHOR,
                                   committer=AUTHOR).decode()  # fmt: skip
        pruned = prune_history(repo, keep_days) if keep_days else 0
    return ExportResult(path, rows, sha, pruned)
