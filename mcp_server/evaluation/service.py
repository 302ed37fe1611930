"""What the evaluation tools do, over the pool and the providers (no MCP here).

Each function checks its input against the database before any paid call, calls the
models, and writes its rows in one transaction at the end, so a failure leaves nothing half
written. Model calls log their cost under their operation (clients.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from mcp_server.config import Settings
from mcp_server.evaluation import clients, evaluator, ground_truth, judging, staged_judge
from mcp_server.evaluation.kappa import cohen_kappa
from mcp_server.memory import episodes, l2
from mcp_server.providers.base import Embedder
from mcp_server.providers.costs import pool_cost_sink
from mcp_server.providers.factory import close_provider


class EvaluationInputError(Exception):
    """Input that refers to something not there (unknown insight ids); nothing was called."""


class Lesson(BaseModel):
    problem: str
    lesson: str


class EvaluationResult(BaseModel):
    evaluation_id: int = Field(description="Row in evaluation_log")
    reward: float = Field(description="-1 (wrong) .. 1 (correct and grounded)")
    reason: str
    model: str = Field(description="The evaluator model that answered")
    reflexion_threshold: float
    episode_id: int | None = Field(
        description="Episode holding the Reflexion lesson (reward below the threshold), else null"
    )
    lesson: Lesson | None = None


class DualJudgeResult(BaseModel):
    ground_truth_id: int = Field(description="Row in ground_truth")
    query_id: str | None
    phase: str = Field(description="dual (both judges) or single (one judge + spot checks)")
    judge1_model: str
    judge2_model: str
    judge1_scores: list[float | None] = Field(description="Relevance 0..1 per doc; null: missing")
    judge2_scores: list[float | None] = Field(
        description="Relevance 0..1 per doc; null: missing, or not spot-checked in phase single"
    )
    kappa: float | None = Field(
        description="Cohen's kappa at relevance >= 0.5; null when undefined (see note)"
    )
    raw_agreement: float | None = Field(description="Share of docs both judges put alike")
    pairs: int = Field(description="Docs scored by both judges")
    note: str = ""
    relevant_ids: list[int] = Field(description="Insight ids both judges called relevant")


async def _contents(pool: AsyncConnectionPool, ids: Sequence[int]) -> dict[int, str]:
    async with pool.connection() as conn:
        found = await l2.contents_by_id(conn, list(ids))
    if missing := sorted(set(ids) - set(found)):
        raise EvaluationInputError(
            f"Unknown insight ids (not in l2_insights): {', '.join(map(str, missing))}; "
            "nothing was evaluated"
        )
    return found


async def evaluate_answer(
    pool: AsyncConnectionPool,
    settings: Settings,
    embedder: Embedder,
    *,
    query: str,
    answer: str,
    memory_ids: Sequence[int],
) -> EvaluationResult:
    memories = await _contents(pool, sorted(set(memory_ids)))
    sink = pool_cost_sink(pool)
    ref = settings.evaluation.evaluator
    model = clients.chat(ref, settings, sink, clients.EVALUATION)
    try:
        verdict = await evaluator.evaluate(model, query, answer, memories)
    finally:
        await close_provider(model)
    threshold = settings.evaluation.reflexion_reward_threshold
    lesson, embedding = None, None
    if verdict.reward < threshold:
        reflexion = clients.chat(ref, settings, sink, clients.REFLEXION)
        try:
            lesson = await evaluator.reflect(reflexion, query, answer, verdict)
        finally:
            await close_provider(reflexion)
        [embedding] = await embedder.embed([query])
    async with pool.connection() as conn, conn.transaction():
        episode_id = None
        if lesson is not None:
            episode_id = await episodes.insert_episode(
                conn, query=query, reward=verdict.reward, reflection=lesson.reflection,
                embedding=embedding, embedding_model=embedder.model,
            )  # fmt: skip
        row_id = await evaluator.log_evaluation(
            conn, query=query, answer=answer, memory_ids=sorted(memories), verdict=verdict,
            episode_id=episode_id,
        )  # fmt: skip
    return EvaluationResult(
        evaluation_id=row_id, reward=verdict.reward, reason=verdict.reason, model=verdict.model,
        reflexion_threshold=threshold, episode_id=episode_id,
        lesson=Lesson(problem=lesson.problem, lesson=lesson.lesson) if lesson else None,
    )  # fmt: skip


async def _docs(pool: AsyncConnectionPool, docs: Sequence[int | str]) -> list[ground_truth.Doc]:
    contents = await _contents(pool, sorted({d for d in docs if isinstance(d, int)}))
    return [
        ground_truth.Doc(d, contents[d]) if isinstance(d, int) else ground_truth.Doc(None, d)
        for d in docs
    ]


async def dual_judge(
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    query: str,
    docs: Sequence[int | str],
    query_id: str | None = None,
    progress: judging.Progress | None = None,
    rng: random.Random | None = None,
) -> DualJudgeResult:
    ref1, ref2 = clients.judges(settings)
    resolved = await _docs(pool, docs)
    async with pool.connection() as conn:
        phase = (await staged_judge.current_phase_async(conn)).name
    second = None
    if phase == staged_judge.SINGLE:
        rate = settings.staged_dual_judge.spot_check_rate
        second = judging.spot_checked(len(resolved), rate, rng or random.Random())
    sink = pool_cost_sink(pool)
    judge1 = clients.chat(ref1, settings, sink, clients.JUDGE)
    op2 = clients.SPOT_CHECK if phase == staged_judge.SINGLE else clients.JUDGE
    judge2 = clients.chat(ref2, settings, sink, op2)
    try:
        scores = await judging.score(
            judge1, judge2, query, [d.text for d in resolved], second_opinion=second,
            concurrency=settings.evaluation.judge_concurrency, progress=progress,
        )  # fmt: skip
    finally:
        await close_provider(judge1)
        await close_provider(judge2)
    agreement = cohen_kappa(scores.judge1, scores.judge2)
    async with pool.connection() as conn:
        row_id = await ground_truth.insert(
            conn, query_id=query_id, query=query, docs=resolved,
            judge1=(ref1.model, scores.judge1), judge2=(ref2.model, scores.judge2),
            agreement=agreement, phase=phase,
        )  # fmt: skip
    return DualJudgeResult(
        ground_truth_id=row_id, query_id=query_id, phase=phase,
        judge1_model=ref1.model, judge2_model=ref2.model,
        judge1_scores=scores.judge1, judge2_scores=scores.judge2,
        kappa=agreement.kappa, raw_agreement=agreement.raw_agreement, pairs=agreement.pairs,
        note=agreement.note,
        relevant_ids=ground_truth.relevant_ids(
            [d.id for d in resolved], scores.judge1, scores.judge2,
            both=phase == staged_judge.DUAL,
        ),
    )  # fmt: skip
