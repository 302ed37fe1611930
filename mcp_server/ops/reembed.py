"""Re-embed every stored text after an embedding model change, in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pgvector import Vector
from psycopg import AsyncConnection, sql

from mcp_server.providers.base import Embedder

# (table, column holding the embedded text)
EMBEDDED_TEXT = (("l2_insights", "content"), ("episode_memory", "query"))


@dataclass(frozen=True)
class Outdated:
    table: str
    column: str
    count: int


async def outdated(
    conn: AsyncConnection, embedder: Embedder, *, everything: bool
) -> list[Outdated]:
    """Rows per table whose embedding was not made by the configured model and dimension."""
    found = []
    for table, column in EMBEDDED_TEXT:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
            sql.Identifier(table), _stale_condition(everything)
        )
        cursor = await conn.execute(query, _params(embedder))
        found.append(Outdated(table, column, (await cursor.fetchone())[0]))
    return found


def _stale_condition(everything: bool) -> sql.Composable:
    if everything:
        return sql.SQL("true")
    return sql.SQL("(embedding_model <> %(model)s OR embedding_dim <> %(dim)s)")


def _params(embedder: Embedder) -> dict:
    return {"model": embedder.model, "dim": embedder.dimension}


async def reembed_table(
    conn: AsyncConnection,
    embedder: Embedder,
    target: Outdated,
    *,
    batch_size: int,
    everything: bool,
    advance: Callable[[int], None],
) -> int:
    """Re-embed one table batch by batch; each batch commits on its own, so a stop loses little."""
    select = sql.SQL("SELECT id, {col} FROM {table} WHERE {cond} AND id > %(after)s "
                     "ORDER BY id LIMIT %(limit)s").format(
        col=sql.Identifier(target.column), table=sql.Identifier(target.table),
        cond=_stale_condition(everything),
    )  # fmt: skip
    update = sql.SQL("UPDATE {} SET embedding = %s, embedding_model = %s WHERE id = %s").format(
        sql.Identifier(target.table)
    )
    done, after = 0, 0
    while True:
        cursor = await conn.execute(
            select, {**_params(embedder), "after": after, "limit": batch_size}
        )
        rows = await cursor.fetchall()
        if not rows:
            return done
        vectors = await embedder.embed([text for _, text in rows])
        async with conn.transaction(), conn.cursor() as writer:
            await writer.executemany(
                update,
                [
                    (Vector(v), embedder.model, id_)
                    for (id_, _), v in zip(rows, vectors, strict=True)
                ],
            )
        done += len(rows)
        after = rows[-1][0]
        advance(len(rows))
