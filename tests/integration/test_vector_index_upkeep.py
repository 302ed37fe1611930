"""The server's start never waits on a vector index: a missing one is built while it serves."""

from __future__ import annotations

import threading

import anyio
import psycopg
import pytest
from mcp import Client

from mcp_server.db import index_upkeep
from mcp_server.runtime import Runtime, prepare_database
from mcp_server.server import build_server

pytestmark = pytest.mark.anyio
INDEX = "l2_insights_embedding_384_halfvec_hnsw"
# Random 384-dim rows, enough that the index build is real work.
INSERT = """
INSERT INTO l2_insights (content, embedding, embedding_model)
SELECT 'insight ' || g, v.vec::vector, 'hashing-lexical-v1' FROM generate_series(1, 3000) g,
     LATERAL (SELECT array_agg(random()::real) AS vec FROM generate_series(1, 384) WHERE g > 0) v
"""


def index_state(url: str) -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        ).fetchone()


def test_the_start_does_not_wait_for_a_writer_of_the_insights(migrated_database):
    """An open write transaction (an import, a long reembed) must not hold the start back: a
    CREATE INDEX, even IF NOT EXISTS of one that exists, would wait for it to end."""
    settings, url = migrated_database
    with psycopg.connect(url) as writer:
        writer.execute(
            "INSERT INTO l2_insights (content, embedding, embedding_model) "
            "VALUES ('being written', '[1,0,0]', 'an-older-model')"
        )
        done = threading.Event()

        def start() -> None:
            prepare_database(Runtime(settings, url), auto_migrate=False)
            done.set()

        threading.Thread(target=start, daemon=True).start()
        assert done.wait(20), "the start waited for the open write transaction"
        writer.rollback()


async def test_a_missing_or_invalid_index_is_built_while_the_server_serves(migrated_database):
    settings, url = migrated_database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSERT)
        conn.execute(f"DROP INDEX {INDEX}")
        # what an interrupted concurrent build leaves: an invalid index of that name
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON l2_insights (embedding_model)"
            )
    assert index_state(url)[0] is False

    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        found = await client.call_tool("hybrid_search", {"query_text": "insight 7", "top_k": 3})
        assert not found.is_error and found.structured_content["results"]  # served meanwhile
        with anyio.fail_after(120):
            while (state := index_state(url)) is None or not state[0]:
                await anyio.sleep(0.2)
    definition = state[1]
    assert "USING hnsw" in definition and "WHERE (embedding_dim = 384)" in definition


async def test_the_background_build_replaces_an_earlier_full_precision_index(migrated_database):
    _, url = migrated_database
    earlier = "l2_insights_embedding_384_hnsw"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSERT)
        conn.execute(f"DROP INDEX {INDEX}")
        conn.execute(
            f"CREATE INDEX {earlier} ON l2_insights USING hnsw "
            "((embedding::vector(384)) vector_cosine_ops) WHERE embedding_dim = 384"
        )
    assert await index_upkeep.build_missing(url, 384) == ["l2_insights"]
    with psycopg.connect(url) as conn:
        names = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes")}
    assert INDEX in names and earlier not in names
    assert "halfvec_cosine_ops" in index_state(url)[1]
