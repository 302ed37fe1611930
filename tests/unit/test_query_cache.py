"""Repeated search queries are embedded once; the cache forgets the least recently used."""

from __future__ import annotations

import pytest

from mcp_server.app_context import AppContext
from mcp_server.providers.hashing import HashingEmbedder
from mcp_server.providers.query_cache import QueryCache

pytestmark = pytest.mark.anyio


class CountingEmbedder(HashingEmbedder):
    """The real hashing embedder, counting the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__(dimension=64)
        self.texts: list[str] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return await super().embed(texts)


def test_the_least_recently_used_query_is_forgotten_first():
    cache = QueryCache(capacity=2)
    cache.put("a", [1.0])
    cache.put("b", [2.0])
    assert cache.get("a") == [1.0]  # "a" is now the most recently used
    cache.put("c", [3.0])
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == ([1.0], [3.0])


async def test_a_repeated_query_is_embedded_once_and_gets_the_same_vector():
    embedder = CountingEmbedder()
    app = AppContext(settings=None, pool=None, embedder=embedder)
    first = await app.embed_query("where is the backup?")
    again = await app.embed_query("where is the backup?")
    other = await app.embed_query("when did the deploy run?")
    assert first == again and first != other
    assert embedder.texts == ["where is the backup?", "when did the deploy run?"]
    # Stored content is never served from the query cache.
    await app.embed("where is the backup?")
    assert len(embedder.texts) == 3
