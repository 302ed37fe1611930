"""Embeddings and chat through the `openai` SDK against any OpenAI-compatible server.

A configurable base URL covers OpenAI, Azure, Ollama, vLLM and llama.cpp. The SDK's own
retries are off (`max_retries=0`): retry.py is the one policy, so attempts are countable.
"""

from __future__ import annotations

from openai import AsyncOpenAI

from mcp_server.config import Settings
from mcp_server.providers.base import ChatResult, CostSink, ProviderError
from mcp_server.providers.costs import OPENAI_CHAT, OPENAI_EMBEDDINGS, CostMeter
from mcp_server.providers.retry import RetryPolicy, call_with_retries
from mcp_server.redaction import redact_url

EMBEDDING_BATCH_SIZE = 256  # well under OpenAI's 2048 inputs per request
# Servers that are not OpenAI (Ollama, llama.cpp) often need no key, but the SDK demands one.
_NO_KEY = "no-key-configured"


def _api_key(settings: Settings, base_url: str | None) -> str:
    key = settings.secret("OPENAI_API_KEY")
    if key:
        return key
    if base_url:
        return _NO_KEY
    raise ProviderError(
        f"OPENAI_API_KEY is not set: add it to {settings.env_file} "
        "(or set embedding.base_url to a local OpenAI-compatible server)"
    )


def make_openai_client(
    settings: Settings, base_url: str | None, policy: RetryPolicy
) -> tuple[AsyncOpenAI, str]:
    """An SDK client without its own retries, and the key it carries (to mask it in errors)."""
    key = _api_key(settings, base_url)
    client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=policy.timeout_s)
    return client, key


def _sends_dimensions(model: str) -> bool:
    # Only the text-embedding-3 family accepts `dimensions`; older models and most
    # compatible servers reject or ignore it.
    return model.startswith("text-embedding-3")


class OpenAIEmbedder:
    """Embedder over POST /embeddings; checks every vector has the configured dimension."""

    provider = "openai"

    def __init__(
        self,
        settings: Settings,
        cost_sink: CostSink | None,
        *,
        retry: RetryPolicy | None = None,
        base_url: str | None = None,
        send_dimensions: bool | None = None,
        batch_size: int = EMBEDDING_BATCH_SIZE,
    ) -> None:
        self.model = settings.embedding.model
        self.dimension = settings.embedding.dimension
        self.base_url = base_url or settings.embedding.base_url
        self.policy = retry or RetryPolicy.from_settings(settings)
        self.client, self._key = make_openai_client(settings, self.base_url, self.policy)
        self.send_dimensions = (
            _sends_dimensions(self.model) if send_dimensions is None else send_dimensions
        )
        self.batch_size = batch_size
        self.meter = CostMeter(cost_sink, settings, OPENAI_EMBEDDINGS)
        where = f" at {redact_url(self.base_url)}" if self.base_url else ""
        self.what = f"openai embeddings (model {self.model}{where})"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        await self.meter.admit()
        extra = {"dimensions": self.dimension} if self.send_dimensions else {}
        response = await call_with_retries(
            # "float", not the SDK's default base64: several compatible servers lack base64.
            lambda: self.client.embeddings.create(
                model=self.model, input=batch, encoding_format="float", **extra
            ),
            policy=self.policy,
            what=self.what,
            secret=self._key,
        )
        # The call was paid even if its answer is unusable: record it first.
        usage = response.usage
        await self.meter.record(self.model, usage.total_tokens if usage else 0)
        return self._check(batch, response.data)

    def _check(self, batch: list[str], data: list) -> list[list[float]]:
        if len(data) != len(batch):
            raise ProviderError(f"{self.what} returned {len(data)} vectors for {len(batch)} texts")
        vectors = [item.embedding for item in sorted(data, key=lambda item: item.index)]
        wrong = {len(v) for v in vectors if len(v) != self.dimension}
        if wrong:
            raise ProviderError(
                f"{self.what} returned vectors of dimension {sorted(wrong)[0]}, but "
                f"embedding.dimension is {self.dimension}: set embedding.dimension to the "
                "model's size (and re-embed) or choose a model of that size"
            )
        return [list(map(float, v)) for v in vectors]

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIChat:
    """Chat completions for judge-style prompts (e.g. GPT-4o), returning text and usage."""

    provider = "openai"

    def __init__(
        self,
        model: str,
        settings: Settings,
        cost_sink: CostSink | None,
        *,
        retry: RetryPolicy | None = None,
        base_url: str | None = None,
        api_name: str = OPENAI_CHAT,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.policy = retry or RetryPolicy.from_settings(settings)
        self.client, self._key = make_openai_client(settings, base_url, self.policy)
        self.meter = CostMeter(cost_sink, settings, api_name)
        self.max_tokens = max_tokens
        self.temperature = temperature  # 0: a judge should answer the same way twice
        where = f" at {redact_url(base_url)}" if base_url else ""
        self.what = f"openai chat (model {model}{where})"

    async def complete(self, prompt: str, system: str | None = None) -> ChatResult:
        await self.meter.admit()
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        response = await call_with_retries(
            lambda: self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            ),
            policy=self.policy,
            what=self.what,
            secret=self._key,
        )
        usage = response.usage
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        await self.meter.record(self.model, input_tokens + output_tokens)
        if not response.choices:
            raise ProviderError(f"{self.what} returned no choices")
        text = response.choices[0].message.content or ""
        return ChatResult(text, response.model or self.model, input_tokens, output_tokens)

    async def aclose(self) -> None:
        await self.client.close()
