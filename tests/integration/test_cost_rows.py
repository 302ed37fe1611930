"""The embedding paths outside the tools log their cost too: the drift check and re-embed
(the paths listed in tests/unit/test_cost_paths.py), against a local OpenAI-wire server."""

from __future__ import annotations

import anyio
import psycopg
import pytest

from mcp_server import cli
from mcp_server.monitoring import drift_check
from mcp_server.runtime import Runtime
from tests.support.evaluation import with_section
from tests.support.fake_model_servers import EMBEDDINGS, fake_model_server


@pytest.fixture
def paid(migrated_database):
    settings, url = migrated_database
    with fake_model_server() as server:
        model = "text-embedding-3-small"
        settings = with_section(
            settings, "embedding", provider="openai", model=model, base_url=server.base_url
        )
        settings = settings.model_copy(update={"api_costs_eur": {"text-embedding-3-small": 0.02}})
        yield Runtime(settings, url), server


def cost_rows(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT api_name, num_calls, token_count FROM api_cost_log ORDER BY id"
        ).fetchall()


def test_the_drift_check_logs_its_query_embeddings(paid):
    runtime, server = paid
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO l2_insights (content, embedding, embedding_model) "
            "VALUES ('green tea', array_fill(0.1, ARRAY[384])::vector, 'text-embedding-3-small')"
        )
        conn.execute("INSERT INTO golden_test_set (query, expected_docs) "
                     "SELECT 'green tea please', ARRAY[id] FROM l2_insights")  # fmt: skip
    assert anyio.run(drift_check.run, runtime) is not None
    assert len(server.requests_to(EMBEDDINGS)) == 1
    assert cost_rows(runtime.database_url) == [("openai_embeddings", 1, 3)]


def add_old_insights(conn, count: int) -> None:
    """Insights embedded by another model: re-embed and import must embed them anew."""
    conn.execute(
        "INSERT INTO l2_insights (content, embedding, embedding_model) "
        "SELECT 'insight ' || i, array_fill(0.1, ARRAY[8])::vector, 'old' "
        "FROM generate_series(0, %s - 1) AS i",
        [count],
    )


def test_reembed_logs_every_batch(paid):
    runtime, _ = paid
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        add_old_insights(conn, 3)
    anyio.run(cli._reembed, runtime, 2, False)
    assert cost_rows(runtime.database_url) == [("openai_embeddings", 1, 4),
                                               ("openai_embeddings", 1, 2)]  # fmt: skip


def test_import_logs_its_embeddings(paid, tmp_path):
    from mcp_server import cli_ops
    from mcp_server.ops.export import export_l2

    runtime, _ = paid
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        add_old_insights(conn, 3)
        export_l2(conn, tmp_path / "export", runtime.settings.database.name)
        conn.execute("DELETE FROM l2_insights")
    anyio.run(cli_ops._import, runtime, tmp_path / "export", None, 2, True)
    assert cost_rows(runtime.database_url) == [("openai_embeddings", 1, 4),
                                               ("openai_embeddings", 1, 2)]  # fmt: skip
