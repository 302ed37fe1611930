"""The MCP tools: typed arguments become the input schema, result models the output schema.

Results carry stored memories as data in structured fields, never as prose to follow.
A tool signals failure by raising; the client sees isError with the message, and
nothing has been written. Each tool declares its effects (`@effects`) next to its
definition; `strict_tools` makes every tool in TOOLS strict about its arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Discriminator, Field, Tag

from mcp_server import __version__
from mcp_server.app_context import AppContext, app_of
from mcp_server.config import SearchWeights, Settings
from mcp_server.evaluation import service
from mcp_server.evaluation.clients import EvaluationUnavailable
from mcp_server.evaluation.evaluator import UnreadableReply
from mcp_server.evaluation.service import (
    DualJudgeResult,
    EvaluationInputError,
    EvaluationResult,
)
from mcp_server.inputs import (
    CONTENT_MAX,
    QUERY_MAX,
    PastTimestamp,
    StorableJson,
    StorableText,
    VectorComponent,
    real,
)
from mcp_server.memory import episodes, index_words, l0, l2, relevance, working
from mcp_server.memory.fidelity import LOW_DENSITY, information_density
from mcp_server.monitoring import drift_check
from mcp_server.providers.base import ProviderError
from mcp_server.strict_tools import effects

BIGINT_MAX = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


class PingResult(BaseModel):
    status: str = Field(description="'ok' when the database answers, else 'degraded'")
    database_reachable: bool
    version: str
    environment: str
    embedding_provider: str = Field(description="Active embedder: openai, local or hashing")
    embedding_model: str


class StoredDialogue(BaseModel):
    id: int = Field(description="Id of the stored turn in l0_raw")
    timestamp: dt.datetime = Field(description="When the turn was stored")
    occurred_at: dt.datetime | None = Field(
        None, description="When the turn was said, as given; null: when it was stored"
    )


class StoredInsight(BaseModel):
    id: int = Field(description="Id of the stored insight in l2_insights")
    embedding_model: str
    fidelity_score: float = Field(
        description="Information density: distinct words of more than three characters "
        "divided by all words (0..1)"
    )
    warning: str | None = Field(
        None, description=f"Set when the information density is below {LOW_DENSITY}"
    )


class SearchResult(BaseModel):
    id: int
    content: str
    created_at: dt.datetime
    source_ids: list[int] = Field(description="l0_raw ids the insight was compressed from")
    score: float = Field(
        description="Fused score: weighted cosine similarity plus weighted BM25 relative to the "
        "best keyword match (search.fusion 'score'), or weighted reciprocal rank fusion ('rrf')"
    )
    semantic_rank: int | None = Field(description="Rank in the vector branch; null if absent")
    keyword_rank: int | None = Field(description="Rank in the full-text branch; null if absent")
    semantic_score: float | None = Field(None, description="Cosine similarity")
    keyword_score: float | None = Field(None, description="BM25 of the full-text match")


class SearchResults(BaseModel):
    results: list[SearchResult]
    embedding_provider: str = Field(
        description="Who embedded the query: the configured provider, or 'caller'"
    )
    embedding_model: str
    weights: SearchWeights


class WorkingMemoryUpdate(BaseModel):
    id: int = Field(description="Id of the working memory item")
    evicted_id: int | None = Field(description="Item moved to stale memory, if any")
    evicted_ids: list[int] = Field(
        description="Every item moved to stale memory (more than one only after the "
        "capacity was lowered)"
    )
    refreshed: bool = Field(description="True when identical content was already held")


class StoredEpisode(BaseModel):
    id: int = Field(description="Id of the stored episode in episode_memory")
    embedding_model: str


@effects(read_only=True, idempotent=True)
async def ping(ctx: Context) -> PingResult:
    """Health of the memory server: database reachability, version, environment, embedder."""
    app = app_of(ctx)
    try:
        async with app.pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
        reachable = True
    except Exception:
        reachable = False
    return PingResult(
        status="ok" if reachable else "degraded",
        database_reachable=reachable,
        version=__version__,
        environment=app.settings.environment,
        embedding_provider=app.embedder.provider,
        embedding_model=app.embedder.model,
    )


@effects(read_only=False, idempotent=False)
async def store_raw_dialogue(
    session_id: Annotated[
        StorableText, Field(description="Conversation id", min_length=1, max_length=200)
    ],
    speaker: Annotated[
        StorableText, Field(description="Who spoke, e.g. user or assistant", max_length=100)
    ],
    content: Annotated[
        StorableText, Field(description="The turn, verbatim", min_length=1, max_length=CONTENT_MAX)
    ],
    ctx: Context,
    metadata: Annotated[
        StorableJson, Field(description="Optional JSON object stored with the turn")
    ] = None,
    occurred_at: Annotated[
        PastTimestamp,
        Field(
            description="When the turn was said, ISO 8601 (2023-05-08T13:56:00+02:00; "
            "without an offset: UTC), if not now: an imported or replayed conversation. "
            "Its date makes the insights made from the turn findable by date"
        ),
    ] = None,
) -> StoredDialogue:
    """Store one raw dialogue turn (L0) exactly as spoken."""
    app = app_of(ctx)
    async with app.connection() as conn, conn.transaction():
        row_id, created_at = await l0.insert_turn(
            conn, session_id, speaker, content, metadata or {}, occurred_at
        )
        # The insights of the turns just before it have this one as context now.
        await index_words.refresh_context_before(conn, row_id, app.settings.search.context_turns)
    return StoredDialogue(id=row_id, timestamp=created_at, occurred_at=occurred_at)


@effects(read_only=False, idempotent=False)
async def compress_to_l2_insight(
    content: Annotated[
        StorableText,
        Field(description="The compressed insight", min_length=1, max_length=CONTENT_MAX),
    ],
    source_ids: Annotated[
        list[RowId],
        Field(description="l0_raw ids this insight summarizes", min_length=1, max_length=1000),
    ],
    ctx: Context,
) -> StoredInsight:
    """Store an L2 insight compressed from raw turns, embedded for hybrid search.

    Refuses source ids that are not in l0_raw. Warns, without refusing, when the
    information density is below 0.5.
    """
    app = app_of(ctx)
    sources = sorted(set(source_ids))
    async with app.connection() as conn:
        if missing := await l0.missing_ids(conn, sources):
            raise ToolError(
                f"Unknown source ids (not in l0_raw): {', '.join(map(str, missing))}; "
                "nothing was stored"
            )
        words = await index_words.words_of(
            conn, sources, content, app.settings.search.context_turns
        )
    # Embedded only after the check, so a refused call costs no paid request. L0 turns
    # are never deleted, so the ids stay valid until the insert.
    embedding = await app.embed(content)
    density = information_density(content)
    async with app.connection() as conn:
        row_id, _ = await l2.insert_insight(
            conn,
            content=content,
            embedding=embedding,
            embedding_model=app.embedder.model,
            source_ids=sources,
            fidelity_score=density,
            text_search_config=app.settings.search.text_search_config,
            context=words.context,
            source_words=words.source_words,
            question_id=words.question_id,
        )
    warning = None
    if density < LOW_DENSITY:
        warning = (
            f"Low information density {density:.2f} (< {LOW_DENSITY}): the insight is short "
            "on distinct content words; it was stored, consider rewriting it"
        )
    return StoredInsight(
        id=row_id, embedding_model=app.embedder.model, fidelity_score=density, warning=warning
    )


@effects(read_only=True, idempotent=True)
async def hybrid_search(
    query_text: Annotated[
        StorableText, Field(description="What to look for", min_length=1, max_length=QUERY_MAX)
    ],
    ctx: Context,
    query_embedding: Annotated[
        list[VectorComponent] | None,
        Field(
            description="Optional precomputed query vector; its dimension must match the "
            "configured embedding model. Default: the configured provider embeds query_text",
            min_length=2,
            max_length=16000,
        ),
    ] = None,
    top_k: Annotated[int, Field(description="How many results", ge=1, le=100)] = 5,
    weights: Annotated[
        SearchWeights | None,
        Field(
            description="Fusion weights {semantic, keyword}, summing to 1. "
            "Default: the configured search.weights (0.5 / 0.5)"
        ),
    ] = None,
    min_similarity: Annotated[
        float | None,
        Field(
            description="Relevance floor: hits without a shared word need at least this "
            "cosine similarity. Default: the configured search.min_similarity (0.2); "
            "-1 shows every nearest neighbour",
            ge=-1,
            le=1,
        ),
    ] = None,
) -> SearchResults:
    """Find L2 insights by meaning and by words: cosine similarity fused with BM25 over the
    insight, the date its turns were said and the turns around them.

    Hits with neither a shared word nor a useful similarity are left out, so an unrelated
    query finds little or nothing; emoji and CJK characters are matched literally. The first
    five results are the best by score; up to the tenth, a result much like one above gives
    way to a different one (search.diversity), so one exchange does not fill the page. A
    result that answers a question turn the search also found ranks higher
    (search.answer_boost).
    """
    app = app_of(ctx)
    weights = weights or app.settings.search.weights
    provider = app.embedder.provider
    if query_embedding is None:
        query_embedding = await app.embed_query(query_text)
    else:
        _check_query_embedding(query_embedding, app.embedder.dimension)
        provider = "caller"
    hits = await run_hybrid_search(app, query_text, query_embedding, top_k, weights)
    hits = await _relevant(app, hits, query_text, top_k, weights, min_similarity)
    return SearchResults(
        results=[SearchResult(**vars(hit)) for hit in hits],
        embedding_provider=provider,
        embedding_model=app.embedder.model,
        weights=weights,
    )


async def run_hybrid_search(
    app: AppContext,
    query_text: str,
    embedding: list[float],
    top_k: int,
    weights: SearchWeights,
) -> list[l2.SearchHit]:
    async with app.connection() as conn, app.spare_connection(conn) as spare:
        return await l2.hybrid_search(
            conn,
            spare=spare,
            query_text=query_text,
            embedding=embedding,
            **l2.configured(
                app.settings.search,
                top_k=top_k,
                semantic_weight=weights.semantic,
                keyword_weight=weights.keyword,
            ),
        )


async def _relevant(
    app: AppContext,
    hits: list[l2.SearchHit],
    query_text: str,
    top_k: int,
    weights: SearchWeights,
    min_similarity: float | None,
) -> list[l2.SearchHit]:
    search = app.settings.search
    floor = search.min_similarity if min_similarity is None else min_similarity
    hits = relevance.above_floor(hits, floor)
    if not relevance.needles(query_text):
        return hits
    async with app.connection() as conn:
        literal = await relevance.literal_hits(
            conn, query_text, limit=top_k, keyword_weight=weights.keyword,
            rrf_k=search.rrf_k, fusion=search.fusion,
        )  # fmt: skip
    return relevance.merge(hits, literal, top_k)


def _check_query_embedding(vector: list[float], dimension: int) -> None:
    if len(vector) != dimension:
        raise ToolError(
            f"query_embedding has {len(vector)} dimensions; the configured embedding model "
            f"uses {dimension}"
        )
    # pgvector computes in single precision: smaller components square to zero.
    if max(abs(x) for x in vector) < 1e-12:
        raise ToolError("query_embedding is (nearly) all zeros; cosine similarity is undefined")


# Storing held content again only refreshes it; a new item may evict another one.
@effects(read_only=False, idempotent=True, destructive=True)
async def update_working_memory(
    content: Annotated[
        StorableText,
        Field(description="What to keep in mind", min_length=1, max_length=CONTENT_MAX),
    ],
    ctx: Context,
    importance: Annotated[
        real(0, 1),
        Field(description="0 (trivial) .. 1 (essential); above 0.8 is protected"),
    ] = 0.5,
) -> WorkingMemoryUpdate:
    """Keep an item in working memory; when full, move one to stale memory.

    The least recently used item with importance <= 0.8 goes, else the least important
    one, in one transaction. Storing held content again refreshes it instead.
    """
    app = app_of(ctx)
    async with app.connection() as conn:
        stored = await working.store(
            conn, content, importance, app.settings.working_memory.capacity
        )
    return WorkingMemoryUpdate(
        id=stored.id,
        evicted_id=stored.evicted_ids[0] if stored.evicted_ids else None,
        evicted_ids=stored.evicted_ids,
        refreshed=stored.refreshed,
    )


@effects(read_only=False, idempotent=False)
async def store_episode(
    query: Annotated[
        StorableText, Field(description="The task or question", min_length=1, max_length=QUERY_MAX)
    ],
    reward: Annotated[real(-1, 1), Field(description="Outcome from -1 (bad) to 1 (good)")],
    reflection: Annotated[
        StorableText,
        Field(
            description="Verbal reflection: what to do differently",
            min_length=1,
            max_length=CONTENT_MAX,
        ),
    ],
    ctx: Context,
) -> StoredEpisode:
    """Store a Reflexion episode; its query is embedded for later similarity lookup."""
    app = app_of(ctx)
    embedding = await app.embed(query)
    async with app.connection() as conn:
        row_id = await episodes.insert_episode(
            conn,
            query=query,
            reward=reward,
            reflection=reflection,
            embedding=embedding,
            embedding_model=app.embedder.model,
        )
    return StoredEpisode(id=row_id, embedding_model=app.embedder.model)


@contextmanager
def _evaluation_errors() -> Iterator[None]:
    """Evaluation failures as tool errors that say what happened; nothing was stored."""
    try:
        yield
    except EvaluationUnavailable as error:
        raise ToolError(f"not configured: {error}") from None
    except (EvaluationInputError, UnreadableReply) as error:
        raise ToolError(f"{error}; nothing was stored") from None
    except ProviderError as error:
        raise ToolError(f"{error}; nothing was stored") from None


# It calls the configured evaluator (a model outside this server) and logs the result.
@effects(read_only=False, idempotent=False, open_world=True)
async def evaluate_answer(
    query: Annotated[
        StorableText, Field(description="The user's query", min_length=1, max_length=QUERY_MAX)
    ],
    answer: Annotated[
        StorableText,
        Field(description="The answer the client gave", min_length=1, max_length=CONTENT_MAX),
    ],
    ctx: Context,
    memory_ids: Annotated[
        list[RowId],
        Field(description="Ids of the L2 insights the answer used", max_length=100),
    ] = [],  # noqa: B006 (pydantic copies defaults)
) -> EvaluationResult:
    """Rate an answer (reward -1..1 with a reason); a low reward writes a Reflexion lesson.

    Below evaluation.reflexion_reward_threshold the lesson is stored as an episode for the
    query, so memory://episode-memory finds it for similar queries later.
    """
    app = app_of(ctx)
    with _evaluation_errors():
        return await service.evaluate_answer(
            app.pool, app.settings, app.embedder, query=query, answer=answer,
            memory_ids=memory_ids,
        )  # fmt: skip


def _doc_kind(value: object) -> str:
    # Tagged, so a refusal names one reading ("docs[0].text must be a string"), not both.
    return "id" if isinstance(value, int) else "text"


JudgedDoc = Annotated[
    Annotated[RowId, Tag("id")]
    | Annotated[StorableText, Field(min_length=1, max_length=CONTENT_MAX), Tag("text")],
    Discriminator(_doc_kind),
    Field(description="An L2 insight id, or a document's text"),
]


@effects(read_only=False, idempotent=False, open_world=True)
async def store_dual_judge_scores(
    query: Annotated[
        StorableText, Field(description="The judged query", min_length=1, max_length=QUERY_MAX)
    ],
    docs: Annotated[
        list[JudgedDoc],
        Field(description="Documents to judge: insight ids or texts", min_length=1, max_length=50),
    ],
    ctx: Context,
    query_id: Annotated[
        StorableText | None,
        Field(description="Optional id of the judged query", min_length=1, max_length=200),
    ] = None,
) -> DualJudgeResult:
    """Score each doc's relevance with two judges and store them with Cohen's kappa.

    In phase 2 of the staged judge, one judge scores and the other spot-checks a sample.
    A judge answer without a readable score is stored as missing, never as 0.
    """
    app = app_of(ctx)

    async def progress(done: int, total: int) -> None:
        await ctx.report_progress(done, total, f"{done} of {total} judge calls")

    with _evaluation_errors():
        return await service.dual_judge(
            app.pool, app.settings, query=query, docs=docs, query_id=query_id,
            progress=progress,
        )  # fmt: skip


@effects(read_only=True, idempotent=True)
async def get_golden_test_results(
    ctx: Context,
    days: Annotated[int, Field(description="How many recent runs in the trend", ge=1, le=365)] = 30,
) -> drift_check.GoldenTestResults:
    """The latest daily drift check of the golden set and its trend (from model_drift_log).

    Reads results only; the check itself runs daily (python -m mcp_server.monitoring.drift_check).
    """
    async with app_of(ctx).connection() as conn:
        return await drift_check.golden_results(conn, days)


def availability_notes(settings: Settings) -> dict[str, str]:
    """What tools cannot do in this configuration, said in their descriptions."""
    if settings.evaluation.enabled:
        return {}
    note = (
        "Not available in this configuration: it needs evaluation.enabled: true in "
        "config.yaml (and the evaluator or judge models configured there)."
    )
    return {"evaluate_answer": note, "store_dual_judge_scores": note}


TOOLS = (
    ping,
    store_raw_dialogue,
    compress_to_l2_insight,
    hybrid_search,
    update_working_memory,
    store_episode,
    evaluate_answer,
    store_dual_judge_scores,
    get_golden_test_results,
)
