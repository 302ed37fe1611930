"""Replay an L2 export (`cognitive-memory export-l2`) into a database.

Exports carry no vectors (they are derived data), so every imported insight is embedded with
the model configured now, whichever model the export names. Ids are kept, so source_ids and
anything citing an insight stay valid; an id already present is skipped, which makes a replay
safe to repeat or to resume. Each insight gets the words compression indexes it by
(`index_words`: its source words and context): the export's own, or for an export made before
exports carried them, rebuilt from the raw turns when the database has them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo
from pgvector import Vector
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from mcp_server.memory import index_words
from mcp_server.memory.index_words import IndexWords
from mcp_server.ops.errors import OpsError
from mcp_server.ops.export import FILE_NAME
from mcp_server.providers.base import Embedder

REQUIRED = ("id", "content")


@dataclass(frozen=True)
class ImportResult:
    source: str
    imported: int
    skipped: int
    model: str


def read_export(source: Path, at: str | None = None) -> list[dict]:
    """The insights of an export folder (as of commit `at`, or its current file) or a file."""
    if at is not None:
        text = _file_at_commit(source, at)
    elif source.is_dir():
        text = _read(source / FILE_NAME)
    else:
        text = _read(source)
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise OpsError(f"{source}, line {number}: not JSON ({error})") from None
        if not isinstance(record, dict) or any(record.get(k) in (None, "") for k in REQUIRED):
            raise OpsError(f"{source}, line {number}: an insight needs {' and '.join(REQUIRED)}")
        records.append(record)
    return records


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OpsError(f"no L2 export at {path}") from None


def _file_at_commit(folder: Path, at: str) -> str:
    try:
        repo = Repo(str(folder))
    except NotGitRepository:
        raise OpsError(f"{folder} is not an export folder (no git history)") from None
    with repo:
        commit = _by_prefix(repo, at)
        tree = repo[commit.tree]
        try:
            _, sha = tree[FILE_NAME.encode()]
        except KeyError:
            raise OpsError(f"commit {at} has no {FILE_NAME}") from None
        return repo[sha].data.decode("utf-8")


def _by_prefix(repo: Repo, at: str):
    """A commit named by a (short) id, or the last one made on or before a day (YYYY-MM-DD)."""
    try:
        day_end = dt.datetime.combine(dt.date.fromisoformat(at), dt.time.max, dt.UTC)
    except ValueError:
        day_end = None
    for entry in repo.get_walker(include=[repo.head()]):
        commit = entry.commit
        if day_end is not None:
            if commit.commit_time <= day_end.timestamp():
                return commit
        elif commit.id.decode().startswith(at.lower()):
            return commit
    raise OpsError(f"no export at {at} in the history of {repo.path}")


async def replay(
    conn: AsyncConnection,
    embedder: Embedder,
    records: list[dict],
    *,
    text_search_config: str,
    context_turns: int,
    batch_size: int,
    source: str,
    advance: Callable[[int], None],
) -> ImportResult:
    imported = skipped = 0
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        present = await _present(conn, [int(r["id"]) for r in batch])
        new = [r for r in batch if int(r["id"]) not in present]
        skipped += len(batch) - len(new)
        if new:
            vectors = await embedder.embed([r["content"] for r in new])
            words = [await _words(conn, r, context_turns) for r in new]
            async with conn.transaction():
                await _insert(conn, new, vectors, words, embedder.model, text_search_config)
            imported += len(new)
        advance(len(batch))
    async with conn.transaction():
        # New insights must not collide with the ids just replayed.
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('l2_insights', 'id'), "
            "greatest((SELECT max(id) FROM l2_insights), 1))"
        )
    if imported:
        # The search reads the store's size and its words' shares from these statistics
        # (l2: common words, the split of large stores); autovacuum would take minutes.
        await conn.execute("ANALYZE l2_insights")
    return ImportResult(source, imported, skipped, embedder.model)


async def _present(conn: AsyncConnection, ids: list[int]) -> set[int]:
    cursor = await conn.execute("SELECT id FROM l2_insights WHERE id = ANY(%s)", [ids])
    return {row[0] for row in await cursor.fetchall()}


async def _words(conn: AsyncConnection, record: dict, context_turns: int) -> IndexWords:
    """The export's words (no question: the export names no raw turn of this database); else
    the ones compression would give, its question included, from the raw turns here."""
    source_words, context = record.get("source_words"), record.get("context")
    if isinstance(source_words, str) and isinstance(context, str):
        return IndexWords(source_words=source_words, context=context)
    sources = [int(i) for i in record.get("source_ids") or []]
    if sources:
        return await index_words.words_of(conn, sources, record["content"], context_turns)
    return IndexWords(source_words=source_words or "", context=context or "")


async def _insert(conn, records, vectors, words, model: str, config: str) -> None:
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """
            INSERT INTO l2_insights (id, content, source_words, context, embedding, embedding_model,
                                     source_ids, fidelity_score, metadata, created_at,
                                     text_search_config, question_id)
            OVERRIDING SYSTEM VALUE
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s::timestamptz, now()),
                    %s::regconfig, %s)""",
            [
                (int(r["id"]), r["content"], w.source_words, w.context, Vector(v), model,
                 r.get("source_ids") or [], r.get("fidelity_score"),
                 Jsonb(r.get("metadata") or {}), r.get("created_at"), config, w.question_id)
                for r, v, w in zip(records, vectors, words, strict=True)
            ],
        )  # fmt: skip
