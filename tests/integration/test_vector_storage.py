"""Vectors live in their rows while a row fits a page (migration 010, issue 10 latency).

In TOAST, every vector a search reads (exact distances of the candidates, the keyword
branch's rows, the diversity step) cost an index lookup and chunk reads: at 1536 dimensions
that was every vector. These tests read where PostgreSQL put each vector
(pg_column_toast_chunk_id) and what a search read (the TOAST relation's block counters).
"""

from __future__ import annotations

import random

import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector

from mcp_server.db import migrator
from mcp_server.memory import l2
from tests.integration.test_memory_repositories import query

VECTOR_TABLES = ("l2_insights", "episode_memory")
BEFORE_010 = [m for m in migrator.discover() if m.version < 10]
ADDED = [(1536, 1), (384, 2), (3072, 3)]


def vector(dimension: int, seed: int) -> Vector:
    rng = random.Random(seed)
    return Vector([rng.uniform(-1, 1) for _ in range(dimension)])


def add(conn, dimension: int, seed: int, context: str = "") -> None:
    register_vector(conn)
    conn.execute(
        "INSERT INTO l2_insights (content, context, embedding, embedding_model) "
        "VALUES (%s, %s, %s, 'm')",
        [f"insight {seed} shared", context, vector(dimension, seed)],
    )
    conn.execute(
        "INSERT INTO episode_memory (query, reward, reflection, embedding, embedding_model) "
        "VALUES (%s, 0.5, 'r', %s, 'm')",
        [f"query {seed}", vector(dimension, seed)],
    )


def in_toast(conn, table: str) -> list[bool]:
    rows = conn.execute(
        f"SELECT pg_column_toast_chunk_id(embedding) IS NOT NULL FROM {table} ORDER BY id"
    )
    return [toasted for (toasted,) in rows]


def test_a_vector_stays_in_its_row_while_the_row_fits_a_page(fresh_database):
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=384)
        for table in VECTOR_TABLES:
            options = conn.execute(
                "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table]
            ).fetchone()[0]
            assert "toast_tuple_target=8160" in options
        add(conn, 1536, 1)  # 6 KB: in TOAST at PostgreSQL's default
        add(conn, 384, 2, context="earlier turns " * 150)  # 1.5 KB in a row of 4 KB
        add(conn, 3072, 3)  # 12 KB does not fit a page: TOAST, as before
        for table in VECTOR_TABLES:
            assert in_toast(conn, table) == [False, False, True]
        stored = conn.execute("SELECT embedding FROM l2_insights ORDER BY id").fetchall()
        expected = [vector(d, s).to_numpy().tolist() for d, s in ADDED]
        assert [v.tolist() for (v,) in stored] == expected


def test_migration_010_moves_vectors_stored_before_into_their_rows(fresh_database):
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, BEFORE_010, embedding_dim=1536)
        for seed in range(5):
            add(conn, 1536, seed)
        before = conn.execute("SELECT id, embedding::text FROM l2_insights ORDER BY id").fetchall()
        for table in VECTOR_TABLES:
            assert all(in_toast(conn, table))  # what an earlier release stored
        assert 10 in [m.version for m in migrator.migrate(conn, embedding_dim=1536)]
        for table in VECTOR_TABLES:
            assert not any(in_toast(conn, table))
        after = conn.execute("SELECT id, embedding::text FROM l2_insights ORDER BY id").fetchall()
        assert after == before
        indexes = conn.execute(
            "SELECT c.relname, i.indisvalid, i.indisclustered FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'l2_insights'::regclass"
        ).fetchall()
        names = {name for name, _, _ in indexes}
        assert migrator.vector_index_name("l2_insights", 1536) in names
        assert all(valid and not clustered for _, valid, clustered in indexes)


def test_migration_010_leaves_a_table_with_nothing_in_toast_unwritten(fresh_database):
    _, url = fresh_database
    relation = "SELECT relfilenode FROM pg_class WHERE oid = 'l2_insights'::regclass"
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, BEFORE_010, embedding_dim=384)
        for seed in range(5):
            add(conn, 384, seed)
        file_before = conn.execute(relation).fetchone()[0]
        migrator.migrate(conn, embedding_dim=384)
        assert conn.execute(relation).fetchone()[0] == file_before  # no rewrite, no reindex


def toast_blocks_read(conn) -> int:
    """Blocks of l2_insights' TOAST relation this database has read, this backend's included."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(
        "SELECT coalesce(toast_blks_hit, 0) + coalesce(toast_blks_read, 0) "
        "FROM pg_statio_all_tables WHERE relid = 'l2_insights'::regclass"
    ).fetchone()[0]


@pytest.mark.parametrize("target", ["8160", "default"])
def test_a_search_at_1536_dimensions_reads_no_toast(fresh_database, target):
    """With PostgreSQL's default target (the control), the same search reads TOAST blocks."""
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=1536)
        if target == "default":
            conn.execute("ALTER TABLE l2_insights RESET (toast_tuple_target)")
        for seed in range(40):
            add(conn, 1536, seed)
        conn.execute("ANALYZE l2_insights")
        statement, params = l2.hybrid_query(
            **query("shared insight", vector(1536, 99).to_list(), top_k=10, diversity=0.2)
        )
        before = toast_blocks_read(conn)
        rows = conn.execute(statement, params).fetchall()
        read = toast_blocks_read(conn) - before
    assert len(rows) == 30  # the pool the diversity step chooses from, every vector read
    assert all(row[7] is not None for row in rows)  # the exact cosine of each
    assert all(row[9] is not None for row in rows[5:])  # similarities past the head
    if target == "8160":
        assert read == 0
    else:
        assert read > 40  # each vector read is chunks and index pages
