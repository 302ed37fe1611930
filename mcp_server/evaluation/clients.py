"""The evaluator's and the judges' chat clients, each logging its cost under its operation.

The operations are the api_name of their api_cost_log rows, so the budget CLI shows what
evaluation costs: `evaluation`, `reflexion`, `judge`, `spot_check`.
"""

from __future__ import annotations

from mcp_server.config import ModelRef, Settings
from mcp_server.providers.base import ChatModel, CostSink
from mcp_server.providers.factory import make_chat

EVALUATION = "evaluation"
REFLEXION = "reflexion"
JUDGE = "judge"
SPOT_CHECK = "spot_check"
OPERATIONS = (EVALUATION, REFLEXION, JUDGE, SPOT_CHECK)


class EvaluationUnavailable(Exception):
    """Evaluation is switched off or not configured; the message says what to set."""


def _enabled(settings: Settings) -> None:
    if not settings.evaluation.enabled:
        raise EvaluationUnavailable(
            "evaluation is not enabled: set evaluation.enabled: true in "
            f"{settings.config_dir / 'config.yaml'} (deploy: cogmem_evaluation_enabled)"
        )


def judges(settings: Settings) -> tuple[ModelRef, ModelRef]:
    _enabled(settings)
    configured = settings.evaluation.judges
    if len(configured) != 2:
        raise EvaluationUnavailable(
            f"the dual judge needs two judges in evaluation.judges; {len(configured)} configured"
        )
    return configured[0], configured[1]


def chat(ref: ModelRef, settings: Settings, sink: CostSink | None, operation: str) -> ChatModel:
    _enabled(settings)
    return make_chat(ref, settings, sink, api_name=operation)
