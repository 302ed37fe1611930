"""What every tool and resource needs: settings, the pool, the embedder; and their failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import psycopg
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mcp_server.config import Settings
from mcp_server.memory import l2
from mcp_server.providers.base import Embedder, ProviderError
from mcp_server.providers.query_cache import QueryCache

# Another task may take the idle connection first; a spare is worth no waiting.
SPARE_WAIT_S = 0.001
# How long a search trusts the store's size it last read (spare_connection).
SIZE_TTL_S = 60.0


class UnavailableError(ResourceError):
    """The database or the embedding provider failed; the message says which and why.

    A ResourceError because the SDK shows its message to the client both from a tool
    (an isError result) and from a resource read (a -32603 error), where any other
    exception becomes a generic "Error executing tool".
    """


@dataclass
class AppContext:
    settings: Settings
    pool: AsyncConnectionPool
    embedder: Embedder
    query_cache: QueryCache = field(default_factory=QueryCache)
    searches: int = field(default=0, init=False)  # in flight, for spare_connection
    _insights: int = field(default=0, init=False)
    _sized_at: float | None = field(default=None, init=False)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection; an outage is a clear error within the pool timeout, not a hang."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as error:
            reason = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise UnavailableError(
                f"The database is unavailable ({reason}); try again when PostgreSQL is back"
            ) from error

    @asynccontextmanager
    async def spare_connection(
        self, conn: psycopg.AsyncConnection
    ) -> AsyncIterator[psycopg.AsyncConnection | None]:
        """A second pooled connection for the search on `conn`, or None: a search runs its
        keyword branch beside its vector branch (l2.hybrid_search) only in a store large
        enough to gain from it (l2.SPLIT_FROM), while it is the only search in flight and a
        connection is idle. Under load the cores are busy anyway, and the side-by-side form
        is more work in all: three statements, not one, and ~0.6 ms more of the server's own
        CPU a search (2.5-2.6 against 1.8-2.0 ms at 100k x 1536, in-memory MCP, issue 10)."""
        self.searches += 1
        spare = None
        try:
            if (
                self.searches == 1
                and self.pool.get_stats().get("pool_available", 0)
                and await self.insights(conn) >= l2.SPLIT_FROM
            ):
                with suppress(PoolTimeout, psycopg.OperationalError):
                    spare = await self.pool.getconn(timeout=SPARE_WAIT_S)
            yield spare
        finally:
            if spare is not None:
                await self.pool.putconn(spare)
            self.searches -= 1

    async def insights(self, conn: psycopg.AsyncConnection) -> int:
        """About how many insights the store holds, read at most every SIZE_TTL_S."""
        now = time.monotonic()
        if self._sized_at is None or now - self._sized_at > SIZE_TTL_S:
            self._insights = await l2.estimated_count(conn)
            self._sized_at = now
        return self._insights

    async def embed(self, text: str) -> list[float]:
        try:
            [vector] = await self.embedder.embed([text])
        except ProviderError as error:
            raise UnavailableError(f"Embedding failed: {error}") from error
        return vector

    async def embed_query(self, text: str) -> list[float]:
        """A search query's vector; repeated queries come from the cache, not the model."""
        vector = self.query_cache.get(text)
        if vector is None:
            vector = await self.embed(text)
            self.query_cache.put(text, vector)
        return vector


def app_of(ctx: Context) -> AppContext:
    return ctx.request_context.lifespan_context
