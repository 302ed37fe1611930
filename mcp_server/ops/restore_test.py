"""The weekly restore test: a dump restored in full into a scratch database, then checked.

Checked: the checksum, the row count of every table against the counts taken in the dump's
snapshot, and a hybrid search in the restored copy (an insight's own vector and words must
find that insight first: vector index, full-text index and the fusion all work). The scratch
database is dropped afterwards, whatever happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from pgvector.psycopg import register_vector

from mcp_server.config import SearchSettings
from mcp_server.memory.l2 import hybrid_query
from mcp_server.ops import dumps, scratch
from mcp_server.ops.dumps import Dump
from mcp_server.ops.errors import OpsError


@dataclass(frozen=True)
class RestoreTestResult:
    dump: Dump
    rows: dict[str, int]
    searched_insight: int | None  # None: the dump holds no insight to search for


def run_restore_test(
    url: str, dump: Dump, live: str, search: SearchSettings, *, embedded: bool
) -> RestoreTestResult:
    dumps.verify(dump)
    expected = dump.manifest().get("rows")
    if not expected:
        raise OpsError(f"{dump.manifest_path} holds no row counts to compare with")
    name = live + scratch.RESTORE_TEST
    rows = scratch.restore_into(url, dump, name, embedded=embedded)
    try:
        scratch.compare_counts(expected, rows)
        with scratch.admin(url, name) as conn:
            found = sample_search(conn, search)
    finally:
        with scratch.admin(url, live) as conn:
            scratch.drop(conn, name)
    return RestoreTestResult(dump, rows, found)


def sample_search(conn: psycopg.Connection, search: SearchSettings) -> int | None:
    """Search for the newest insight with its own text and vector; it must rank first."""
    register_vector(conn)
    sample = conn.execute(
        "SELECT id, content, embedding FROM l2_insights ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if sample is None:
        return None
    insight, content, embedding = sample
    statement, params = hybrid_query(
        query_text=content[:200], embedding=[float(x) for x in embedding], top_k=5,
        semantic_weight=search.weights.semantic, keyword_weight=search.weights.keyword,
        rrf_k=search.rrf_k, candidates=search.candidates, fusion=search.fusion,
        text_search_config=search.text_search_config,
    )  # fmt: skip
    with conn.transaction():
        hits = conn.execute(statement, params).fetchall()
    if not hits or hits[0][0] != insight:
        raise OpsError(
            f"hybrid search in the restored copy did not find insight {insight} first "
            f"(got {[h[0] for h in hits]})"
        )
    return insight
