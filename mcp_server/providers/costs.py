"""Cost logging for paid calls: real token counts from the response, EUR rates from config.

The api_name values written to api_cost_log (the budget CLI groups by them):

- ``openai_embeddings``: embeddings through the OpenAI-compatible client;
- ``openai_chat``: chat completions through the OpenAI-compatible client (GPT-4o judge);
- ``anthropic_chat``: Anthropic Messages (the Haiku evaluator and judge).

Callers may pass their own api_name to a chat client (e.g. "haiku_evaluation") to tell
purposes apart. The local and hashing embedders cost nothing and log nothing.
"""

from __future__ import annotations

import logging

from psycopg_pool import AsyncConnectionPool

from mcp_server.config import Settings
from mcp_server.db.cost_logger import log_api_cost
from mcp_server.providers.base import CostSink

log = logging.getLogger(__name__)

OPENAI_EMBEDDINGS = "openai_embeddings"
OPENAI_CHAT = "openai_chat"
ANTHROPIC_CHAT = "anthropic_chat"
API_NAMES = (OPENAI_EMBEDDINGS, OPENAI_CHAT, ANTHROPIC_CHAT)

_warned_unknown_models: set[str] = set()


def estimate_cost_eur(rates_eur_per_1k: dict[str, float], model: str, tokens: int) -> float:
    """EUR for `tokens` of `model`; an unpriced model costs 0 and is warned about once."""
    rate = rates_eur_per_1k.get(model)
    if rate is None:
        if model not in _warned_unknown_models:
            _warned_unknown_models.add(model)
            log.warning(
                "no price for model %r in api_costs_eur; its calls are logged with cost 0", model
            )
        return 0.0
    return tokens / 1000 * rate


class CostMeter:
    """Records one successful paid call; a failing sink is logged, never raised to the user."""

    def __init__(self, sink: CostSink | None, settings: Settings, api_name: str) -> None:
        self.sink = sink
        self.rates = dict(settings.api_costs_eur)
        self.api_name = api_name

    async def record(self, model: str, tokens: int) -> None:
        if self.sink is None:
            return
        cost = estimate_cost_eur(self.rates, model, tokens)
        try:
            await self.sink(self.api_name, 1, tokens, cost)
        except Exception:
            log.exception("could not record the cost of a %s call", self.api_name)


def pool_cost_sink(pool: AsyncConnectionPool) -> CostSink:
    """A CostSink writing one api_cost_log row per call through a pooled connection."""

    async def sink(api_name: str, num_calls: int, token_count: int, estimated_cost: float) -> None:
        try:
            async with pool.connection() as conn:
                await log_api_cost(conn, api_name, num_calls, token_count, estimated_cost)
        except Exception:
            # The user's call already succeeded (and was paid); losing a cost row is bad,
            # failing the call for it would be worse.
            log.exception(
                "could not write api_cost_log row",
                extra={"api_name": api_name, "token_count": token_count},
            )

    return sink
