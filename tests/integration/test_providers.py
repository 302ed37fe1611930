"""Paid calls end to end: the real SDKs, a local wire-format server, a real api_cost_log.

Each test sends requests through the `openai` / `anthropic` SDK clients to the fake model
server on 127.0.0.1 and reads the rows that the pool cost sink wrote to the embedded database.
"""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import SecretStr

from mcp_server.config import ModelRef, Settings
from mcp_server.db.connection import open_pool
from mcp_server.providers.base import ProviderError
from mcp_server.providers.costs import pool_cost_sink
from mcp_server.providers.factory import close_provider, make_chat, make_embedder
from tests.support.fake_model_servers import EMBEDDINGS, MESSAGES, fake_model_server

pytestmark = pytest.mark.anyio
OPENAI_KEY = "sk-test-integration-4f1c2b9e7a"
ANTHROPIC_KEY = "sk-ant-test-integration-8d3e"
DELAYS = [0.05, 0.05, 0.05]


@pytest.fixture
def server():
    with fake_model_server() as running:
        yield running


@pytest.fixture
def settings(migrated_database, server) -> Settings:
    """The test database, OpenAI embeddings at the fake server, tiny retry delays."""
    base, _url = migrated_database
    return base.model_copy(
        update={
            "embedding": base.embedding.model_copy(
                update={
                    "provider": "openai",
                    "model": "text-embedding-3-small",
                    "dimension": 1536,
                    "base_url": server.base_url,
                }
            ),
            "retry": base.retry.model_copy(
                update={"delays_s": DELAYS, "jitter_s": 0.01, "timeout_s": 0.5}
            ),
            "secrets": {
                **base.secrets,
                "OPENAI_API_KEY": SecretStr(OPENAI_KEY),
                "ANTHROPIC_API_KEY": SecretStr(ANTHROPIC_KEY),
            },
        }
    )


@pytest.fixture
async def pool(settings, migrated_database):
    pool = await open_pool(settings, migrated_database[1])
    yield pool
    await pool.close()


@pytest.fixture
async def embedder(settings, pool):
    embedder = make_embedder(settings, pool_cost_sink(pool))
    yield embedder
    await close_provider(embedder)


async def cost_rows(pool) -> list[tuple]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT api_name, num_calls, token_count, estimated_cost::float, date = current_date"
            " FROM api_cost_log ORDER BY id"
        )
        return await cursor.fetchall()


async def test_a_successful_embedding_logs_one_cost_row_with_the_usage_tokens(
    embedder, pool, server
):
    vectors = await embedder.embed(["The cat sat on the mat", "Backups run at two"])
    assert [len(v) for v in vectors] == [1536, 1536]
    request = server.requests_to(EMBEDDINGS)[0]
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body["model"] == "text-embedding-3-small"
    # The fake server counts one token per word: 6 + 4.
    rows = await cost_rows(pool)
    # estimated_cost is numeric(12, 6): 10 tokens at 0.00002 EUR/1k round to 0 there.
    assert rows == [
        ("openai_embeddings", 1, 10, pytest.approx(10 / 1000 * 0.00002, abs=1e-6), True)
    ]


async def test_a_429_with_retry_after_is_retried_once(embedder, pool, server):
    server.plan(429, headers={"retry-after": "0"})
    await embedder.embed(["rate limited, then fine"])
    assert len(server.requests) == 2
    assert len(await cost_rows(pool)) == 1


async def test_two_500s_then_success(embedder, pool, server):
    server.plan(500, times=2)
    await embedder.embed(["flaky upstream"])
    assert len(server.requests) == 3
    assert len(await cost_rows(pool)) == 1


async def test_a_timeout_then_success(embedder, pool, server, settings):
    server.plan(delay_s=settings.retry.timeout_s + 1.0)  # answers after the client gave up
    started = time.perf_counter()
    await embedder.embed(["slow, then fast"])
    assert len(server.requests) == 2
    assert time.perf_counter() - started < settings.retry.timeout_s + 1.0
    assert len(await cost_rows(pool)) == 1


async def test_persistent_failure_raises_after_every_attempt_and_logs_no_cost(
    embedder, pool, server
):
    server.plan(503, times=len(DELAYS) + 1)
    with pytest.raises(ProviderError) as error:
        await embedder.embed(["never works"])
    assert len(server.requests) == 1 + len(DELAYS)
    message = str(error.value)
    assert "openai embeddings" in message
    assert "text-embedding-3-small" in message
    assert "HTTP 503" in message
    assert f"after {1 + len(DELAYS)} attempt(s)" in message
    assert OPENAI_KEY not in message
    assert await cost_rows(pool) == []


async def test_a_400_fails_at_once(embedder, pool, server):
    server.plan(400, body={"error": {"message": "input too long", "type": "invalid_request"}})
    with pytest.raises(ProviderError, match=r"not retried.*HTTP 400: input too long"):
        await embedder.embed(["x" * 10])
    assert len(server.requests) == 1
    assert await cost_rows(pool) == []


async def test_a_wrong_dimension_is_refused_but_the_paid_call_is_logged(embedder, pool, server):
    server.plan(dimension=768)
    with pytest.raises(ProviderError, match=r"dimension 768, but embedding\.dimension is 1536"):
        await embedder.embed(["wrong model behind the url"])
    assert [row[0] for row in await cost_rows(pool)] == ["openai_embeddings"]


async def test_chat_calls_log_their_input_and_output_tokens(settings, pool, server):
    server.reply = "relevant"
    sink = pool_cost_sink(pool)
    gpt = make_chat(
        ModelRef(provider="openai", model="gpt-4o"), settings, sink, base_url=server.base_url
    )
    haiku = make_chat(
        ModelRef(provider="anthropic", model="claude-3-5-haiku-latest"),
        settings,
        sink,
        base_url=server.anthropic_base_url,
    )
    server.plan(429, headers={"retry-after": "0"}, path=MESSAGES)
    first = await gpt.complete("Is this relevant to backups?", system="Answer in one word")
    second = await haiku.complete("Is this relevant to backups?", system="Answer in one word")
    await close_provider(gpt)
    await close_provider(haiku)
    assert first.text == second.text == "relevant"
    assert len(server.requests_to(MESSAGES)) == 2
    rows = await cost_rows(pool)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("openai_chat", 1, first.total_tokens),
        ("anthropic_chat", 1, second.total_tokens),
    ]
    assert first.total_tokens == 5 + 4 + 1  # prompt words + system words + reply words
    assert rows[1][3] == pytest.approx(second.total_tokens / 1000 * 0.0009)


async def test_the_api_key_never_reaches_the_logs(settings, pool, server, caplog):
    caplog.set_level(logging.DEBUG)  # the SDKs and httpx narrate requests at DEBUG
    # Even a server that echoes the key in its error message must not leak it.
    echo = {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}}
    server.plan(500, body=echo, times=len(DELAYS) + 1)
    embedder = make_embedder(settings, pool_cost_sink(pool))
    with pytest.raises(ProviderError) as error:
        await embedder.embed(["leak check"])
    await embedder.embed(["and a success"])
    haiku = make_chat(
        ModelRef(provider="anthropic", model="claude-3-5-haiku-latest"),
        settings,
        pool_cost_sink(pool),
        base_url=server.anthropic_base_url,
    )
    await haiku.complete("hello")
    await close_provider(embedder)
    await close_provider(haiku)
    assert "Incorrect API key provided: ***" in str(error.value)
    assert "retrying in" in caplog.text  # the retries were logged, so logs were captured
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        assert secret not in caplog.text
        assert secret not in str(error.value)


async def test_a_broken_cost_log_is_logged_and_the_call_still_succeeds(
    settings, migrated_database, server, caplog
):
    pool = await open_pool(settings, migrated_database[1])
    await pool.close()  # every write will fail
    embedder = make_embedder(settings, pool_cost_sink(pool))
    vectors = await embedder.embed(["the user's call matters more"])
    await close_provider(embedder)
    assert len(vectors[0]) == 1536
    assert "could not write api_cost_log row" in caplog.text
