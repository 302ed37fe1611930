"""What the domain needs from a provider, independent of who serves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

# (api_name, num_calls, token_count, estimated_cost_eur) -> None; backed by api_cost_log.
CostSink = Callable[[str, int, int, float], Awaitable[None]]


class ProviderError(Exception):
    """A model provider failed after its retries; the message says which and why."""


class Embedder(Protocol):
    provider: str
    model: str
    dimension: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, each of `dimension` floats."""
        ...
