"""What the domain needs from a provider, independent of who serves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

# (api_name, num_calls, token_count, estimated_cost_eur) -> None; backed by api_cost_log.
CostSink = Callable[[str, int, int, float], Awaitable[None]]


class ProviderError(Exception):
    """A model provider failed after its retries; the message says which and why.

    `status` is the last HTTP status when there was one (None for timeouts and connection errors).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Embedder(Protocol):
    provider: str
    model: str
    dimension: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, each of `dimension` floats."""
        ...


@dataclass(frozen=True)
class ChatResult:
    """A chat model's answer and the usage the provider reported for it."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatModel(Protocol):
    provider: str
    model: str

    async def complete(self, prompt: str, system: str | None = None) -> ChatResult:
        """One user turn (with an optional system prompt) in, the model's text out."""
        ...
