"""Re-embedding after a model change rewrites every outdated row, batch by batch."""

from __future__ import annotations

import anyio
import psycopg
from pgvector.psycopg import register_vector_async

from mcp_server.db import migrator
from mcp_server.ops import reembed
from mcp_server.providers.hashing import HashingEmbedder


def test_reembed_moves_every_row_to_the_new_model_and_dimension(migrated_database):
    _, url = migrated_database
    old, new = HashingEmbedder("old-model", 384), HashingEmbedder("new-model", 64)

    async def scenario():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await register_vector_async(conn)
            texts = [f"insight number {i} about tea" for i in range(25)]
            for text, vector in zip(texts, await old.embed(texts), strict=True):
                await conn.execute(
                    "INSERT INTO l2_insights (content, embedding, embedding_model) "
                    "VALUES (%s, %s::real[]::vector, %s)", [text, vector, old.model],
                )  # fmt: skip
            await conn.execute(
                "INSERT INTO l2_insights (content, embedding, embedding_model) "
                "VALUES ('already new', %s::real[]::vector, %s)",
                [(await new.embed(["already new"]))[0], new.model],
            )
            targets = await reembed.outdated(conn, new, everything=False)
            progress = []
            for target in targets:
                if target.count:
                    await reembed.reembed_table(
                        conn, new, target, batch_size=10, everything=False, advance=progress.append
                    )
            cursor = await conn.execute(
                "SELECT embedding_model, embedding_dim, count(*) FROM l2_insights GROUP BY 1, 2"
            )
            return targets, progress, await cursor.fetchall()

    targets, progress, rows = anyio.run(scenario)
    assert {t.table: t.count for t in targets} == {"l2_insights": 25, "episode_memory": 0}
    assert progress == [10, 10, 5]
    assert rows == [("new-model", 64, 26)]


def test_a_new_dimension_gets_its_own_vector_index(migrated_database):
    _, url = migrated_database
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.ensure_vector_indexes(conn, 64)
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    assert "l2_insights_embedding_64_halfvec_hnsw" in names
