"""Claude (Haiku for the evaluator and judge) through the `anthropic` SDK's Messages API.

As with OpenAI, the SDK's own retries are off: retry.py is the one policy.
"""

from __future__ import annotations

from anthropic import AsyncAnthropic

from mcp_server.config import Settings
from mcp_server.providers.base import ChatResult, CostSink, ProviderError
from mcp_server.providers.costs import ANTHROPIC_CHAT, CostMeter
from mcp_server.providers.retry import RetryPolicy, call_with_retries
from mcp_server.redaction import redact_url


class AnthropicChat:
    """One user turn in, text and usage out; cost = input + output tokens at the model's rate."""

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        settings: Settings,
        cost_sink: CostSink | None,
        *,
        retry: RetryPolicy | None = None,
        base_url: str | None = None,
        api_name: str = ANTHROPIC_CHAT,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> None:
        key = settings.secret("ANTHROPIC_API_KEY")
        if not key:
            raise ProviderError(f"ANTHROPIC_API_KEY is not set: add it to {settings.env_file}")
        self.model = model
        self.policy = retry or RetryPolicy.from_settings(settings)
        # base_url None lets the SDK use ANTHROPIC_BASE_URL or api.anthropic.com.
        self.client = AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=0, timeout=self.policy.timeout_s
        )
        self._key = key
        self.meter = CostMeter(cost_sink, settings, api_name)
        self.max_tokens = max_tokens
        self.temperature = temperature
        where = f" at {redact_url(base_url)}" if base_url else ""
        self.what = f"anthropic messages (model {model}{where})"

    async def complete(self, prompt: str, system: str | None = None) -> ChatResult:
        await self.meter.admit()
        extra = {"system": system} if system else {}
        response = await call_with_retries(
            lambda: self.client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                messages=[{"role": "user", "content": prompt}],
                **extra,
            ),
            policy=self.policy,
            what=self.what,
            secret=self._key,
        )
        usage = response.usage
        await self.meter.record(self.model, usage.input_tokens + usage.output_tokens)
        text = "".join(block.text for block in response.content if block.type == "text")
        if not text and response.stop_reason == "refusal":
            raise ProviderError(f"{self.what} refused to answer")
        return ChatResult(
            text, response.model or self.model, usage.input_tokens, usage.output_tokens
        )

    async def aclose(self) -> None:
        await self.client.close()
