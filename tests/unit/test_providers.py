"""Providers through the real SDK clients against the local fake model server (no database)."""

from __future__ import annotations

import email.utils
import logging
import sys
import time

import httpx
import openai
import pytest
from pydantic import SecretStr

from mcp_server.config import ModelRef, Settings, load_settings
from mcp_server.providers import costs, factory
from mcp_server.providers.anthropic_client import AnthropicChat
from mcp_server.providers.base import ProviderError
from mcp_server.providers.hashing import HashingEmbedder
from mcp_server.providers.openai_compat import OpenAIChat, OpenAIEmbedder
from mcp_server.providers.retry import RetryPolicy, retry_after_s
from tests.conftest import REPO
from tests.support.fake_model_servers import CHAT, EMBEDDINGS, MESSAGES, fake_model_server

pytestmark = pytest.mark.anyio
OPENAI_KEY = "sk-test-unit-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-unit-0123456789"


@pytest.fixture
def server():
    with fake_model_server() as running:
        yield running


def make_settings(base_url: str | None = None, **embedding) -> Settings:
    base = load_settings("development", REPO / "config", secrets=False)
    embedding = {"provider": "openai", "model": "text-embedding-3-small", "dimension": 1536,
                 "base_url": base_url, **embedding}  # fmt: skip
    return base.model_copy(
        update={
            "embedding": base.embedding.model_copy(update=embedding),
            "retry": base.retry.model_copy(
                update={"delays_s": [0.05, 0.05, 0.05], "jitter_s": 0.01, "timeout_s": 0.5}
            ),
            "secrets": {
                "OPENAI_API_KEY": SecretStr(OPENAI_KEY),
                "ANTHROPIC_API_KEY": SecretStr(ANTHROPIC_KEY),
            },
        }
    )


class ListSink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int, float]] = []

    async def __call__(self, api_name, num_calls, token_count, estimated_cost) -> None:
        self.rows.append((api_name, num_calls, token_count, estimated_cost))


def status_error(status: int, headers: dict[str, str]) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/embeddings")
    response = httpx.Response(status, headers=headers, request=request)
    return openai.APIStatusError("planned", response=response, body=None)


# --- retry policy ------------------------------------------------------------------------


def test_retry_after_is_read_from_seconds_milliseconds_and_dates():
    assert retry_after_s(status_error(429, {"retry-after": "3"})) == 3
    assert retry_after_s(status_error(429, {"retry-after-ms": "250"})) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_s(status_error(429, {"retry-after": later})) <= 30
    assert retry_after_s(status_error(429, {})) is None
    assert retry_after_s(status_error(429, {"retry-after": "soon"})) is None


def test_retry_policy_comes_from_settings():
    policy = RetryPolicy.from_settings(load_settings("development", REPO / "config", secrets=False))
    assert policy.delays_s == (1, 2, 4, 8)
    assert policy.attempts == 5
    assert policy.retry_after_cap_s == 8


async def test_a_long_retry_after_is_capped_at_the_longest_backoff(server):
    server.plan(429, headers={"retry-after": "100"})
    embedder = OpenAIEmbedder(make_settings(server.base_url), ListSink())
    started = time.perf_counter()
    await embedder.embed(["capped wait"])
    assert time.perf_counter() - started < 30  # far below the 100 s asked for, even on a busy host
    assert len(server.requests) == 2


async def test_retry_after_zero_is_honoured_instead_of_the_backoff(server):
    server.plan(429, headers={"retry-after": "0"})
    policy = RetryPolicy(delays_s=(60,), jitter_s=0, timeout_s=5)
    embedder = OpenAIEmbedder(make_settings(server.base_url), ListSink(), retry=policy)
    started = time.perf_counter()
    await embedder.embed(["no wait"])
    assert time.perf_counter() - started < 30  # not the 60 s backoff


async def test_a_refused_connection_is_retried_then_named(server):
    settings = make_settings(server.base_url)
    server.stop()  # nothing listens on the port any more
    embedder = OpenAIEmbedder(settings, ListSink())
    with pytest.raises(ProviderError, match=r"failed after 4 attempt\(s\): connection error"):
        await embedder.embed(["nobody home"])


async def test_a_wrong_key_fails_at_once_without_retry():
    with fake_model_server(expected_key="sk-test-the-right-one") as server:
        embedder = OpenAIEmbedder(make_settings(server.base_url), ListSink())
        with pytest.raises(ProviderError, match=r"not retried.*HTTP 401") as error:
            await embedder.embed(["hello"])
        assert len(server.requests) == 1
        assert error.value.status == 401
        assert OPENAI_KEY not in str(error.value)


# --- embeddings --------------------------------------------------------------------------


async def test_embeddings_are_batched_in_order_with_one_cost_row_per_request(server):
    sink = ListSink()
    settings = make_settings(server.base_url, dimension=32)
    embedder = OpenAIEmbedder(settings, sink, batch_size=256)
    texts = [f"memory number {i}" for i in range(600)]
    vectors = await embedder.embed(texts)
    assert [len(r.body["input"]) for r in server.requests] == [256, 256, 88]
    assert vectors == HashingEmbedder("fake", 32).embed_sync(texts)  # JSON floats round-trip
    assert [row[:3] for row in sink.rows] == [
        ("openai_embeddings", 1, 256 * 3),
        ("openai_embeddings", 1, 256 * 3),
        ("openai_embeddings", 1, 88 * 3),
    ]
    assert sink.rows[0][3] == pytest.approx(768 / 1000 * 0.00002)


async def test_an_empty_list_makes_no_call(server):
    embedder = OpenAIEmbedder(make_settings(server.base_url), ListSink())
    assert await embedder.embed([]) == []
    assert server.requests == []


async def test_dimensions_are_sent_only_to_text_embedding_3_models(server):
    await OpenAIEmbedder(make_settings(server.base_url), ListSink()).embed(["a"])
    other = make_settings(server.base_url, model="nomic-embed-text", dimension=1536)
    await OpenAIEmbedder(other, ListSink()).embed(["b"])
    forced = make_settings(server.base_url, model="my-model", dimension=64)
    await OpenAIEmbedder(forced, ListSink(), send_dimensions=True).embed(["c"])
    bodies = [r.body for r in server.requests]
    assert bodies[0]["dimensions"] == 1536
    assert "dimensions" not in bodies[1]
    assert bodies[2]["dimensions"] == 64
    assert {b["encoding_format"] for b in bodies} == {"float"}


async def test_the_fake_server_also_speaks_base64_embeddings(server):
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    response = await client.embeddings.create(model="m", input=["the cat"], dimensions=8)
    await client.close()
    assert server.requests[0].body["encoding_format"] == "base64"  # the SDK's default
    expected = HashingEmbedder("fake", 8).embed_sync(["the cat"])[0]
    assert response.data[0].embedding == pytest.approx(expected, abs=1e-6)


async def test_a_failing_cost_sink_does_not_fail_the_call(server, caplog):
    async def broken_sink(*args):
        raise RuntimeError("database is down")

    embedder = OpenAIEmbedder(make_settings(server.base_url), broken_sink)
    assert len((await embedder.embed(["still works"]))[0]) == 1536
    assert "could not record the cost of a openai_embeddings call" in caplog.text


def test_openai_without_key_or_base_url_says_where_to_put_the_key():
    settings = make_settings().model_copy(update={"secrets": {}})
    with pytest.raises(ProviderError, match=r"OPENAI_API_KEY is not set: add it to .*\.env\."):
        OpenAIEmbedder(settings, None)


async def test_a_local_compatible_server_works_without_a_key():
    with fake_model_server(dimension=768) as server:  # like Ollama's nomic-embed-text
        settings = make_settings(server.base_url, model="nomic-embed-text", dimension=768)
        settings = settings.model_copy(update={"secrets": {}})
        vectors = await OpenAIEmbedder(settings, ListSink()).embed(["ollama style"])
    assert len(vectors[0]) == 768


# --- chat --------------------------------------------------------------------------------


async def test_openai_chat_returns_text_and_usage_and_logs_its_cost(server):
    server.reply = "0.8"
    sink = ListSink()
    chat = OpenAIChat("gpt-4o", make_settings(), sink, base_url=server.base_url)
    result = await chat.complete("Rate this document", system="You are a judge")
    await chat.aclose()
    assert (result.text, result.input_tokens, result.output_tokens) == ("0.8", 7, 1)
    body = server.requests_to(CHAT)[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are a judge"}
    assert body["temperature"] == 0
    assert sink.rows == [("openai_chat", 1, 8, pytest.approx(8 / 1000 * 0.0023))]


async def test_anthropic_chat_sends_the_key_and_counts_input_plus_output(server):
    server.plan(529, path=MESSAGES)  # Anthropic's "overloaded" is a 5xx: retried
    server.plan(text="A short verdict", path=MESSAGES)
    sink = ListSink()
    chat = AnthropicChat(
        "claude-3-5-haiku-latest", make_settings(), sink, base_url=server.anthropic_base_url
    )
    result = await chat.complete("Is this relevant?", system="Be brief")
    await chat.aclose()
    assert result.text == "A short verdict"
    assert result.total_tokens == result.input_tokens + result.output_tokens == 5 + 3
    requests = server.requests_to(MESSAGES)
    assert len(requests) == 2
    assert requests[-1].headers["x-api-key"] == ANTHROPIC_KEY
    assert requests[-1].body["system"] == "Be brief"
    assert sink.rows == [("anthropic_chat", 1, 8, pytest.approx(8 / 1000 * 0.0009))]


def test_anthropic_without_key_says_where_to_put_it():
    settings = make_settings().model_copy(update={"secrets": {}})
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicChat("claude-3-5-haiku-latest", settings, None)


# --- costs -------------------------------------------------------------------------------


def test_an_unpriced_model_costs_zero_and_is_warned_about_once(caplog):
    costs._warned_unknown_models.discard("mystery-model")
    with caplog.at_level(logging.WARNING):
        assert costs.estimate_cost_eur({}, "mystery-model", 1000) == 0
        assert costs.estimate_cost_eur({}, "mystery-model", 1000) == 0
    assert caplog.text.count("no price for model 'mystery-model'") == 1
    assert costs.estimate_cost_eur({"m": 0.5}, "m", 2000) == 1.0


# --- factory -----------------------------------------------------------------------------


async def test_factory_builds_each_configured_embedder(server):
    hashing = factory.make_embedder(make_settings(provider="hashing", dimension=384), None)
    assert isinstance(hashing, HashingEmbedder) and hashing.dimension == 384
    openai_embedder = factory.make_embedder(make_settings(server.base_url), ListSink())
    assert isinstance(openai_embedder, OpenAIEmbedder)
    assert openai_embedder.base_url == server.base_url
    await factory.close_provider(openai_embedder)
    await factory.close_provider(hashing)


def test_factory_local_without_the_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    settings = make_settings(provider="local", model="all-MiniLM-L6-v2", dimension=384)
    with pytest.raises(ProviderError, match=r"pip install 'cognitive-memory\[local\]'"):
        factory.make_embedder(settings, None)


async def test_factory_builds_chat_clients_from_model_refs(server):
    sink = ListSink()
    settings = make_settings()
    judge = factory.make_chat(
        ModelRef(provider="openai", model="gpt-4o"), settings, sink, base_url=server.base_url
    )
    evaluator = factory.make_chat(
        ModelRef(provider="anthropic", model="claude-3-5-haiku-latest"),
        settings,
        sink,
        base_url=server.anthropic_base_url,
        api_name="haiku_evaluation",
    )
    await judge.complete("a")
    await evaluator.complete("b")
    assert [row[0] for row in sink.rows] == ["openai_chat", "haiku_evaluation"]
    assert [r.path for r in server.requests] == [CHAT, MESSAGES]
    assert EMBEDDINGS not in {r.path for r in server.requests}
