"""`cognitive-memory reindex`: the words stored insights are found by, after an upgrade."""

from __future__ import annotations

import json

import typer

from mcp_server.cli_support import ENV_OPTION, Environment, load_for_database_work, user_errors


@user_errors
def reindex(
    env: Environment | None = ENV_OPTION,
    everything: bool = typer.Option(
        False,
        "--all",
        help="Every insight with raw turns, not only those stored before migration 005 "
        "(after changing search.context_turns)",
    ),
    batch_size: int = typer.Option(500, min=1, max=10_000, help="Insights per transaction"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Give insights stored before this release their date words and neighbouring turns.

    Safe to stop and to run again: each batch commits whole, unchanged rows are not written.
    """
    import anyio

    loaded = load_for_database_work(env)
    result = anyio.run(_reindex, loaded, everything, batch_size, as_json)
    if as_json:
        typer.echo(json.dumps(result.__dict__))
        return
    typer.echo(
        f"{result.changed} of {result.examined} insights got new index words"
        + (
            f"; {result.without_turns} without raw turns here kept theirs"
            if result.without_turns
            else ""
        )
    )


async def _reindex(loaded, everything: bool, batch_size: int, quiet: bool):
    from rich.console import Console
    from rich.progress import Progress

    from mcp_server.db.connection import open_pool
    from mcp_server.ops import reindex as ops

    settings = loaded.settings
    pool = await open_pool(settings, loaded.database_url)
    try:
        async with pool.connection() as conn:
            todo, _ = await ops.count(conn, everything=everything)
            with Progress(console=Console(stderr=True), disable=quiet or not todo) as progress:
                task = progress.add_task("reindexing", total=todo)
                return await ops.reindex(
                    conn, context_turns=settings.search.context_turns,
                    dimension=settings.embedding.dimension, batch_size=batch_size,
                    everything=everything, advance=lambda n: progress.advance(task, n),
                    rebuilding=lambda: progress.add_task("rebuilding the vector index", total=None),
                )  # fmt: skip
    finally:
        await pool.close()
