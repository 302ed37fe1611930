"""Build the configured providers; the only place that knows which class serves which name."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from mcp_server.config import ModelRef, Settings
from mcp_server.providers.base import ChatModel, CostSink, Embedder

if TYPE_CHECKING:  # the SDKs behind retry cost ~1 s to import; the hashing path needs neither
    from mcp_server.providers.retry import RetryPolicy


def make_embedder(
    settings: Settings, cost_sink: CostSink | None, *, retry: RetryPolicy | None = None
) -> Embedder:
    """The embedder named by settings.embedding.provider (openai, local or hashing)."""
    embedding = settings.embedding
    if embedding.provider == "openai":
        from mcp_server.providers.openai_compat import OpenAIEmbedder

        return OpenAIEmbedder(settings, cost_sink, retry=retry)
    if embedding.provider == "local":
        from mcp_server.providers.local import LocalEmbedder

        return LocalEmbedder(embedding.model, embedding.dimension)
    if embedding.provider == "hashing":
        from mcp_server.providers.hashing import HashingEmbedder

        return HashingEmbedder(embedding.model, embedding.dimension)
    raise ValueError(f"unknown embedding provider {embedding.provider!r}")


def make_chat(
    model_ref: ModelRef,
    settings: Settings,
    cost_sink: CostSink | None,
    *,
    retry: RetryPolicy | None = None,
    base_url: str | None = None,
    api_name: str | None = None,
) -> ChatModel:
    """A chat client for an evaluator or judge entry of the config.

    base_url None means the SDK default (OPENAI_BASE_URL / ANTHROPIC_BASE_URL, else the
    vendor's API); api_name None means the client's default cost-log name.
    """
    options = {"retry": retry, "base_url": base_url or model_ref.base_url}
    if api_name:
        options["api_name"] = api_name
    if model_ref.provider == "openai":
        from mcp_server.providers.openai_compat import OpenAIChat

        return OpenAIChat(model_ref.model, settings, cost_sink, **options)
    if model_ref.provider == "anthropic":
        from mcp_server.providers.anthropic_client import AnthropicChat

        return AnthropicChat(model_ref.model, settings, cost_sink, **options)
    raise ValueError(f"unknown chat provider {model_ref.provider!r}")


async def close_provider(provider: object) -> None:
    """Close a provider's HTTP client if it has one (hashing and local have none)."""
    close = getattr(provider, "aclose", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
