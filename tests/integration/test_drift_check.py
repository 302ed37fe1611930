"""The drift check measures precision@5 on the golden set and flags a drop below baseline."""

from __future__ import annotations

import anyio
import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector_async

from mcp_server.monitoring import drift_check
from mcp_server.providers.hashing import HashingEmbedder

FACTS = [
    "Ana drinks green tea every morning",
    "Ben plays the cello in an orchestra",
    "Carla adopted a grey cat named Pixel",
    "Dan is training for the Lisbon marathon",
]


async def seed(conn, embedder):
    ids = []
    for fact, vector in zip(FACTS, await embedder.embed(FACTS), strict=True):
        cursor = await conn.execute(
            "INSERT INTO l2_insights (content, embedding, embedding_model) VALUES (%s, %s, %s) "
            "RETURNING id", [fact, Vector(vector), embedder.model],
        )  # fmt: skip
        ids.append((await cursor.fetchone())[0])
    for query, target in (("green tea", ids[0]), ("cello orchestra", ids[1])):
        await conn.execute(
            "INSERT INTO golden_test_set (query, expected_docs) VALUES (%s, %s)", [query, [target]]
        )


def test_precision_is_measured_logged_and_compared_with_the_baseline(migrated_database):
    settings, url = migrated_database
    embedder = HashingEmbedder("hashing-lexical-v1", 384)

    async def scenario():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await register_vector_async(conn)
            assert await drift_check.measure(conn, settings, embedder) is None  # empty set
            await seed(conn, embedder)
            # A week of better days: 0.4 is what we had before.
            await conn.execute(
                "INSERT INTO model_drift_log (date, precision_at_5, num_queries) "
                "VALUES (current_date - 1, 0.4, 2)"
            )
            result = await drift_check.measure(conn, settings, embedder)
            await drift_check.record(conn, result, embedder.model)
            cursor = await conn.execute("SELECT count(*) FROM model_drift_log")
            return result, (await cursor.fetchone())[0]

    result, rows = anyio.run(scenario)
    # Each query finds its one expected fact in the top 5: precision@5 = 1/5.
    assert result.precision_at_5 == 0.2
    assert result.baseline_p5 == pytest.approx(0.4)
    assert result.drift_detected is True
    assert rows == 2


def test_precision_at_k():
    assert drift_check.precision_at_k([1, 2, 3, 4, 5, 6], [6]) == 0
    assert drift_check.precision_at_k([1, 2, 3], [1, 3, 9]) == 0.4
