"""Migrations, the wrong-database guard and the cost log on the real embedded PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from mcp_server.db import migrator
from mcp_server.db.connection import DatabaseError, WrongDatabaseError, connect
from mcp_server.db.cost_logger import insert_cost_log
from tests.conftest import settings_for

TABLES = {
    "l0_raw",
    "l2_insights",
    "working_memory",
    "stale_memory",
    "episode_memory",
    "ground_truth",
    "golden_test_set",
    "model_drift_log",
    "api_cost_log",
    "schema_migrations",
    "evaluation_log",
    "judge_phase_events",
}


def tables(conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrations_apply_once_and_the_second_run_changes_nothing(fresh_database):
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        first = migrator.migrate(conn, embedding_dim=384)
        assert [m.version for m in first] == [m.version for m in migrator.discover()]
        assert tables(conn) >= TABLES
        snapshot = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations")
        before = snapshot.fetchall()
        assert migrator.migrate(conn, embedding_dim=384) == []
        after = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations")
        assert after.fetchall() == before
        assert migrator.current(conn)


def test_api_cost_log_has_the_contract_columns_and_index(migrated_database):
    _, url = migrated_database
    with psycopg.connect(url) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'api_cost_log' ORDER BY ordinal_position"
            )
        ]
        assert columns == [
            "id",
            "date",
            "api_name",
            "num_calls",
            "token_count",
            "estimated_cost",
            "created_at",
        ]
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'api_cost_log_date_api_idx'"
        ).fetchone()[0]
        assert "(date DESC, api_name)" in index


def test_vector_indexes_exist_for_the_configured_dimension(migrated_database):
    _, url = migrated_database
    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {
        "l2_insights_embedding_384_halfvec_hnsw",
        "episode_memory_embedding_384_halfvec_hnsw",
    } <= names


def test_vector_indexes_are_built_with_the_denser_graph(migrated_database):
    _, url = migrated_database
    with psycopg.connect(url) as conn:
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s",
            ["l2_insights_embedding_384_halfvec_hnsw"],
        ).fetchone()[0]
    assert sorted(options) == ["ef_construction=200", "m=24"]


# What releases before halfvec built: full precision, twice the pages per search.
EARLIER_INDEX = """
CREATE INDEX {name} ON {table} USING hnsw ((embedding::vector(384)) vector_cosine_ops)
WHERE embedding_dim = 384"""


def test_vector_indexes_hold_half_precision_and_replace_the_earlier_full_precision_ones(
    migrated_database,
):
    _, url = migrated_database
    tables = ("l2_insights", "episode_memory")
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:  # a database as an earlier release left it
            conn.execute(f"DROP INDEX {table}_embedding_384_halfvec_hnsw")
            conn.execute(EARLIER_INDEX.format(name=f"{table}_embedding_384_hnsw", table=table))
        migrator.migrate(conn, embedding_dim=384)
        indexes = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes").fetchall())
    for table in tables:
        assert f"{table}_embedding_384_hnsw" not in indexes
        definition = indexes[f"{table}_embedding_384_halfvec_hnsw"]
        assert "(embedding)::halfvec(384)) halfvec_cosine_ops" in definition


def test_an_edited_migration_is_refused(fresh_database, tmp_path):
    _, url = fresh_database
    original = migrator.discover()
    edited = [
        migrator.Migration(m.version, m.name, m.sql + "\n-- edited") if m.version == 1 else m
        for m in original
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, original, embedding_dim=384)
        with pytest.raises(migrator.MigrationError, match="was edited after it was applied"):
            migrator.migrate(conn, edited, embedding_dim=384)
        assert not tables(conn) - TABLES  # nothing new was created


def test_a_failing_migration_leaves_nothing_half_written(fresh_database, tmp_path):
    _, url = fresh_database
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE b (id int); SELECT 1/0;")
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrator.migrate(conn, migrator.discover(tmp_path), embedding_dim=8)
        assert "a" in tables(conn)
        assert "b" not in tables(conn)
        assert list(migrator.applied(conn)) == [1]


@pytest.mark.parametrize("insights", [100_000, 10])
def test_a_migration_gets_room_for_the_vector_graph_and_never_less(
    fresh_database, monkeypatch, insights
):
    # A migration that rewrites l2_insights rebuilds its HNSW index: at 64MB and 100k insights
    # that took over 35 minutes. The count is the planner's; here it is given.
    monkeypatch.setattr(migrator, "INSIGHT_ROWS", f"SELECT {insights}")
    record = migrator.Migration(
        900,
        "record",
        "CREATE TABLE seen AS SELECT current_setting('maintenance_work_mem') AS setting;",
    )
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        default = conn.execute("SHOW maintenance_work_mem").fetchone()[0]
        migrator.migrate(conn, [*migrator.discover(), record], embedding_dim=384)
        seen = conn.execute("SELECT setting FROM seen").fetchone()[0]
        assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == default  # local
    room = migrator.graph_room_mb(insights, 384)
    if insights == 100_000:
        assert room > 64 and seen == f"{room}MB"  # more than PostgreSQL's default 64MB
    else:
        assert seen == default  # never less than configured


def test_a_table_never_analyzed_is_counted_for_the_graph_room(fresh_database):
    _, url = fresh_database
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=384)
        conn.execute("ALTER TABLE l2_insights SET (autovacuum_enabled = false)")
        conn.execute(
            "INSERT INTO l2_insights (content, embedding, embedding_model) "
            "SELECT 'bulk ' || n, '[1,2,3]', 'm' FROM generate_series(1, 1000) AS n"
        )
        assert (
            conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = 'l2_insights'::regclass"
            ).fetchone()[0]
            < 0
        )  # the planner does not know yet
        with conn.transaction():
            migrator.make_room_for_the_graph(conn, 16_000)  # a graph of ~90MB for 1000 rows
            seen = conn.execute("SHOW maintenance_work_mem").fetchone()[0]
    assert seen == f"{migrator.graph_room_mb(1000, 16_000)}MB" != "64MB"


def test_duplicate_migration_numbers_are_refused(tmp_path):
    (tmp_path / "004_one.sql").write_text("SELECT 1;")
    (tmp_path / "004_two.sql").write_text("SELECT 1;")
    with pytest.raises(migrator.MigrationError, match="Two migrations share number 004"):
        migrator.discover(tmp_path)


def test_the_wrong_database_guard_fires(migrated_database):
    settings, url = migrated_database
    production = settings.model_copy(
        update={
            "environment": "production",
            "database": settings.database.model_copy(update={"name": "cognitive_memory"}),
        }
    )
    with pytest.raises(WrongDatabaseError) as error, connect(production, url=url):
        pass
    assert "ENVIRONMENT=production expects 'cognitive_memory'" in str(error.value)


def test_an_unreachable_database_is_one_clear_error():
    settings = settings_for("cognitive_memory_dev", "postgresql://u:hunter2@127.0.0.1:1/x")
    with pytest.raises(DatabaseError) as error, connect(settings):
        pass
    message = str(error.value)
    assert message.startswith("Cannot connect to the database at postgresql://u:***@127.0.0.1:1/x")
    assert "hunter2" not in message


def test_insert_cost_log_writes_one_row(migrated_database):
    settings, url = migrated_database
    with connect(settings, url=url) as conn:
        row_id = insert_cost_log("test_api", 1, 1000, 0.001, conn=conn)
        row = conn.execute(
            "SELECT api_name, num_calls, token_count, estimated_cost::float, date = current_date"
            " FROM api_cost_log WHERE id = %s",
            [row_id],
        ).fetchone()
    assert row == ("test_api", 1, 1000, 0.001, True)


def test_insert_cost_log_refuses_negative_values(migrated_database):
    settings, url = migrated_database
    with connect(settings, url=url) as conn, pytest.raises(ValueError):
        insert_cost_log("test_api", -1, 1000, 0.001, conn=conn)


def test_setup_creates_a_missing_database_then_finds_it(cluster_admin_url):
    from psycopg import sql

    from mcp_server.db.connection import create_database_if_missing

    name = "test_setup_creates_me"
    url = cluster_admin_url.replace("/postgres?", f"/{name}?")
    try:
        assert create_database_if_missing(url) is True
        assert create_database_if_missing(url) is False
        with psycopg.connect(url) as conn:
            assert conn.info.dbname == name
    finally:
        with psycopg.connect(cluster_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
