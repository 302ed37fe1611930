"""Cost logging for paid calls: real token counts from the response, EUR rates from config.

The api_name values written to api_cost_log (the budget CLI groups by them):

- ``openai_embeddings``: embeddings through the OpenAI-compatible client;
- ``openai_chat``: chat completions through the OpenAI-compatible client (GPT-4o judge);
- ``anthropic_chat``: Anthropic Messages (the Haiku evaluator and judge).

Callers may pass their own api_name to a chat client to tell purposes apart: the evaluation
loop logs `evaluation`, `reflexion`, `judge` and `spot_check`. The local and hashing
embedders cost nothing and log nothing.

With budget.hard_stop, a paid call first asks the sink for this month's spend and is refused
(BudgetExceededError) once it reaches budget.monthly_limit_eur.
"""

from __future__ import annotations

import datetime as dt
import logging

from psycopg_pool import AsyncConnectionPool

from mcp_server.config import Settings
from mcp_server.db.cost_logger import log_api_cost, month_spend
from mcp_server.providers.base import CostSink, ProviderError

log = logging.getLogger(__name__)

OPENAI_EMBEDDINGS = "openai_embeddings"
OPENAI_CHAT = "openai_chat"
ANTHROPIC_CHAT = "anthropic_chat"
API_NAMES = (OPENAI_EMBEDDINGS, OPENAI_CHAT, ANTHROPIC_CHAT)

_warned_unknown_models: set[str] = set()
_refusals_logged: set[str] = set()  # months whose first refusal was logged


class BudgetExceededError(ProviderError):
    """budget.hard_stop refused a paid call: the month's spend reached the limit."""


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
        self.budget = settings.budget

    async def admit(self) -> None:
        """Refuse the call about to be made when the hard stop is on and the budget spent."""
        spent_so_far = getattr(self.sink, "month_spend", None)
        if not self.budget.hard_stop or spent_so_far is None:
            return
        spent, limit = await spent_so_far(), self.budget.monthly_limit_eur
        if spent < limit:
            return
        message = (
            f"budget.hard_stop: this month's spend of {spent:.4f} EUR has reached the "
            f"budget.monthly_limit_eur of {limit:.2f} EUR, so paid calls ({self.api_name}) are "
            "refused; raise the limit or set budget.hard_stop: false in config.yaml"
        )
        month = dt.date.today().strftime("%Y-%m")
        if month not in _refusals_logged:
            _refusals_logged.add(month)
            log.error(message)
        raise BudgetExceededError(message)

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

    async def spent_this_month() -> float:
        async with pool.connection() as conn:
            return await month_spend(conn)

    sink.month_spend = spent_this_month  # read by CostMeter.admit for budget.hard_stop
    return sink
