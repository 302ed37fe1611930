"""The MCP resources: five URI templates with RFC 6570 query parameters, JSON content.

The SDK lists URI templates under resources/templates/list; resources/list lists their
bare URIs (`memory://working-memory`...), which match their template with defaults.
Query values arrive as strings: each resource validates them with a model and answers
bad ones with an invalid-params error that names the parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

import mcp_types as types
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resources import ResourceSecurity
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcp_server.app_context import app_of
from mcp_server.argument_errors import describe
from mcp_server.inputs import QUERY_MAX, StorableText, real
from mcp_server.memory import episodes, l0, l2, stale, working
from mcp_server.tools import run_hybrid_search

JSON = "application/json"
# Values are search text, ids and dates, never file paths: the path checks would refuse
# harmless text such as "../notes", and inputs.py refuses NUL with a clearer message.
NOT_PATHS = ResourceSecurity(
    reject_path_traversal=False, reject_absolute_paths=False, reject_null_bytes=False
)
EPISODES_TOP = 3

Query = Annotated[StorableText | None, Field(max_length=QUERY_MAX)]
Limit = Annotated[int, Field(ge=1, le=1000)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class L2Params(_Params):
    query: Query = None
    top_k: Annotated[int, Field(ge=1, le=100)] = 5


class WorkingParams(_Params):
    limit: Limit = 100


class EpisodeParams(_Params):
    query: Query = None
    min_similarity: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = 0.70


class L0Params(_Params):
    session_id: Annotated[StorableText | None, Field(max_length=200)] = None
    date_range: tuple[dt.date, dt.date] | None = None
    limit: Limit = 100

    @field_validator("date_range", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.count(":") != 1:
            raise ValueError("must look like 2024-01-01:2024-01-31 (start:end, both inclusive)")
        start, end = (dt.date.fromisoformat(part) for part in value.split(":"))
        if start > end:
            raise ValueError(f"starts after it ends ({start} > {end})")
        return start, end


class StaleParams(_Params):
    importance_min: real(0, 1) = 0.0
    limit: Limit = 100


P = TypeVar("P", bound=_Params)


def parse(model: type[P], resource: str, **values: str | None) -> P:
    """Validate query values; an empty value (`?query=`) means the default."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    try:
        return model.model_validate(given)
    except ValidationError as error:
        # Worded like the tools' refusals: "limit must be between 1 and 1000; got 0".
        problems = describe(error, model.model_json_schema(), what="parameters")
        raise MCPError(
            code=INVALID_PARAMS, message=f"Invalid parameter for {resource}: {problems}"
        ) from None


async def l2_insights(ctx: Context, query: str | None = None, top_k: str | None = None) -> dict:
    """L2 insights: hybrid search results for `query`, else the most recent ones."""
    params = parse(L2Params, "memory://l2-insights", query=query, top_k=top_k)
    app = app_of(ctx)
    if params.query is None:
        async with app.connection() as conn:
            return {"query": None, "results": await l2.recent(conn, params.top_k)}
    embedding = await app.embed_query(params.query)
    hits = await run_hybrid_search(
        app, params.query, embedding, params.top_k, app.settings.search.weights
    )
    return {"query": params.query, "results": [vars(hit) for hit in hits]}


async def working_memory(ctx: Context, limit: str | None = None) -> dict:
    """Working memory items, most recently used first."""
    params = parse(WorkingParams, "memory://working-memory", limit=limit)
    app = app_of(ctx)
    async with app.connection() as conn:
        items = await working.list_items(conn, params.limit)
    return {"capacity": app.settings.working_memory.capacity, "items": items}


async def episode_memory(
    ctx: Context, query: str | None = None, min_similarity: str | None = None
) -> dict:
    """The 3 episodes most similar to `query` (cosine >= min_similarity), else the 3 latest."""
    params = parse(
        EpisodeParams, "memory://episode-memory", query=query, min_similarity=min_similarity
    )
    app = app_of(ctx)
    embedding = await app.embed_query(params.query) if params.query else None
    async with app.connection() as conn:
        if embedding is None:
            found = await episodes.recent(conn, EPISODES_TOP)
        else:
            found = await episodes.similar(
                conn, embedding, min_similarity=params.min_similarity, limit=EPISODES_TOP
            )
    return {"query": params.query, "min_similarity": params.min_similarity, "episodes": found}


async def l0_raw(
    ctx: Context,
    session_id: str | None = None,
    date_range: str | None = None,
    limit: str | None = None,
) -> dict:
    """Raw dialogue turns, newest first; date_range is YYYY-MM-DD:YYYY-MM-DD in UTC, inclusive."""
    params = parse(
        L0Params, "memory://l0-raw", session_id=session_id, date_range=date_range, limit=limit
    )
    since = until = None
    if params.date_range:
        start, end = params.date_range
        since = dt.datetime.combine(start, dt.time(), dt.UTC)
        until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    async with app_of(ctx).connection() as conn:
        turns = await l0.list_turns(
            conn, session_id=params.session_id, since=since, until=until, limit=params.limit
        )
    return {"turns": turns}


async def stale_memory(
    ctx: Context, importance_min: str | None = None, limit: str | None = None
) -> dict:
    """Items evicted from working memory, with the reason, most recently archived first."""
    params = parse(StaleParams, "memory://stale-memory", importance_min=importance_min, limit=limit)
    async with app_of(ctx).connection() as conn:
        items = await stale.list_items(
            conn, importance_min=params.importance_min, limit=params.limit
        )
    return {"items": items}


RESOURCES = {
    "memory://l2-insights{?query,top_k}": l2_insights,
    "memory://working-memory{?limit}": working_memory,
    "memory://episode-memory{?query,min_similarity}": episode_memory,
    "memory://l0-raw{?session_id,date_range,limit}": l0_raw,
    "memory://stale-memory{?importance_min,limit}": stale_memory,
}


def register(server: MCPServer) -> None:
    for template, function in RESOURCES.items():
        name = template.removeprefix("memory://").partition("{")[0]
        server.resource(template, name=name, mime_type=JSON, security=NOT_PATHS)(function)
    # resources/list shows each template's bare URI (every parameter has a default), so
    # clients that only browse lists find them; reads still go through the templates.
    # MCPServer lists only static resources, which cannot reach the database.
    server._lowlevel_server.add_request_handler(
        "resources/list", types.PaginatedRequestParams, _list_fixed
    )


FIXED = [
    types.Resource(
        uri=template.partition("{")[0],
        name=template.removeprefix("memory://").partition("{")[0],
        description=(function.__doc__ or "").strip().splitlines()[0],
        mime_type=JSON,
    )
    for template, function in RESOURCES.items()
]


async def _list_fixed(_ctx, _params) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=FIXED)
