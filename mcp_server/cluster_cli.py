"""`cognitive-memory db stop` and the embedded cluster's part of `db status`."""

from __future__ import annotations

import typer

from mcp_server.db import embedded


def describe(state: embedded.ClusterState) -> str:
    where = f"Embedded PostgreSQL ({state.pgdata})"
    if state.postmaster is None:
        return f"{where}: stopped; the first server that needs it starts it"
    users = ", ".join(map(str, state.users)) or "none"
    return f"{where}: running (pid {state.postmaster}); used by: {users}"


def stop(
    force: bool = typer.Option(
        False, "--force", help="Stop it even while servers use it (their calls then fail)"
    ),
) -> None:
    """Stop the embedded PostgreSQL cluster (it also stops by itself after its last user)."""
    state = embedded.state()
    if state.postmaster is None:
        typer.echo(describe(state))
        return
    living = embedded.stop(state.pgdata, force=force)
    if living and not force:
        typer.echo(
            f"error: the embedded PostgreSQL is still used by pid {', '.join(map(str, living))}; "
            "close those clients (it then stops by itself) or use --force",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"stopped the embedded PostgreSQL ({state.pgdata})")
