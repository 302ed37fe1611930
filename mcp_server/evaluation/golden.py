"""The golden test set: queries with the insight ids a good search must return.

Filled by hand (add, import JSON Lines) or from ground truth (bootstrap: docs both judges
called relevant, or a human's correction). Every change checks the ids against l2_insights
first and is one transaction: an import with one bad line imports nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import psycopg

from mcp_server.errors import UserError

QUERY_TYPES = ("short", "medium", "long")


class GoldenSetError(UserError):
    """Input the golden set refuses; the message names the line or id. Nothing changed."""


@dataclass(frozen=True)
class Entry:
    query: str
    expected_docs: list[int]
    query_type: str

    def line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def query_type_of(query: str) -> str:
    """short: up to 3 words; medium: up to 10; long: more."""
    words = len(query.split())
    return "short" if words <= 3 else "medium" if words <= 10 else "long"


def entry(query: object, expected_docs: object, query_type: object = None) -> Entry:
    if not isinstance(query, str) or not query.strip():
        raise GoldenSetError("query must be a non-empty string")
    if (
        not isinstance(expected_docs, list)
        or not expected_docs
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in expected_docs)
    ):
        raise GoldenSetError("expected_docs must be a non-empty list of insight ids")
    kind = query_type or query_type_of(query)
    if kind not in QUERY_TYPES:
        raise GoldenSetError(f"query_type must be one of {', '.join(QUERY_TYPES)}, not {kind!r}")
    return Entry(query.strip(), sorted(set(expected_docs)), kind)


def _check_ids(conn: psycopg.Connection, entries: Iterable[Entry]) -> None:
    wanted = sorted({i for e in entries for i in e.expected_docs})
    found = {r[0] for r in conn.execute("SELECT id FROM l2_insights WHERE id = ANY(%s)", [wanted])}
    if missing := [i for i in wanted if i not in found]:
        raise GoldenSetError(
            f"unknown insight ids (not in l2_insights): {', '.join(map(str, missing))}"
        )


_UPSERT = """
INSERT INTO golden_test_set (query, expected_docs, query_type) VALUES (%s, %s, %s)
ON CONFLICT (query) DO UPDATE SET expected_docs = excluded.expected_docs,
                                  query_type = excluded.query_type
RETURNING id, (xmax = 0) AS inserted"""


def add(conn: psycopg.Connection, new: Entry) -> int:
    _check_ids(conn, [new])
    if row := conn.execute(
        "SELECT id FROM golden_test_set WHERE query = %s", [new.query]
    ).fetchone():
        raise GoldenSetError(
            f"{new.query!r} is already in the golden set (id {row[0]}); remove it first"
        )
    return conn.execute(_UPSERT, [new.query, new.expected_docs, new.query_type]).fetchone()[0]


def parse_lines(lines: Iterable[str]) -> list[Entry]:
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise GoldenSetError("each line must be a JSON object")
            entries.append(entry(item.get("query"), item.get("expected_docs"),
                                 item.get("query_type")))  # fmt: skip
        except (ValueError, GoldenSetError) as error:
            raise GoldenSetError(f"line {number}: {error}") from None
    return entries


def upsert(conn: psycopg.Connection, entries: list[Entry]) -> tuple[int, int]:
    """Insert or update by query, all in one transaction; (inserted, updated)."""
    _check_ids(conn, entries)
    inserted = 0
    with conn.transaction():
        for e in entries:
            inserted += conn.execute(_UPSERT, [e.query, e.expected_docs, e.query_type]).fetchone()[
                1
            ]
    return inserted, len(entries) - inserted


def listing(conn: psycopg.Connection) -> list[dict]:
    cursor = conn.execute(
        "SELECT id, query_type, query, expected_docs, created_at FROM golden_test_set ORDER BY id"
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def export(conn: psycopg.Connection) -> list[Entry]:
    return [Entry(r["query"], list(r["expected_docs"]), r["query_type"]) for r in listing(conn)]


def remove(conn: psycopg.Connection, ids: list[int]) -> None:
    found = {r[0] for r in conn.execute("SELECT id FROM golden_test_set WHERE id = ANY(%s)", [ids])}
    if missing := sorted(set(ids) - found):
        raise GoldenSetError(f"no golden entry with id {', '.join(map(str, missing))}")
    conn.execute("DELETE FROM golden_test_set WHERE id = ANY(%s)", [ids])


def from_ground_truth(conn: psycopg.Connection) -> list[Entry]:
    """One entry per judged query with relevant insights (human corrections included).

    expected_docs already holds the ids both judges (or the human) called relevant; a query
    judged several times keeps its latest row.
    """
    rows = conn.execute(
        """
        SELECT DISTINCT ON (query) query, expected_docs FROM ground_truth
        WHERE cardinality(expected_docs) > 0
        ORDER BY query, created_at DESC, id DESC"""
    ).fetchall()
    return [entry(query, list(ids)) for query, ids in rows]


def bootstrap(conn: psycopg.Connection) -> tuple[int, int]:
    """Add (or refresh) every ground-truth query as a golden entry; (inserted, updated)."""
    entries = from_ground_truth(conn)
    # Insights deleted since they were judged cannot be expected any more.
    alive = {r[0] for r in conn.execute("SELECT id FROM l2_insights")}
    kept = [
        entry(e.query, ids, e.query_type)
        for e in entries
        if (ids := [i for i in e.expected_docs if i in alive])
    ]
    return upsert(conn, kept) if kept else (0, 0)
