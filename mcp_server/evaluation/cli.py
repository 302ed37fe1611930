"""`cognitive-memory judge ...` and `cognitive-memory golden ...`: the evaluation loop by hand.

judge status|evaluate [--apply]|list|correct: the staged dual judge and its ground truth.
golden add|import|export|list|remove|bootstrap: the golden test set of the drift check.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mcp_server.evaluation import golden, ground_truth, staged_judge
from mcp_server.runtime import database_command

judge_app = typer.Typer(no_args_is_help=True, help="The staged dual judge and its ground truth.")
golden_app = typer.Typer(no_args_is_help=True, help="The golden test set of the drift check.")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output")
# Autocommit: each command sets its own transactions (an import is all or nothing).
with_database = database_command(autocommit=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _eur(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f} EUR"


def _status_data(current: staged_judge.Status) -> dict:
    a = current.agreement
    return {
        "phase": current.phase.name,
        "phase_since": current.phase.since,
        "kappa": a.kappa,
        "raw_agreement": a.raw_agreement,
        "pairs": a.pairs,
        "note": a.note,
        "target": current.target,
        "health": current.health,
        "progress": current.progress,
        "costs": [
            {"phase": c.phase, "cost_eur": c.cost_eur, "docs": c.docs, "per_doc_eur": c.per_doc_eur}
            for c in current.costs
        ],
        "saving": current.saving,
    }


def _print_status(current: staged_judge.Status) -> None:
    a = current.agreement
    phase = "phase 2: one judge + spot checks" if current.phase.name == "single" else (
        "phase 1: dual judge")  # fmt: skip
    kappa = "undefined" if a.kappa is None else f"{a.kappa:.3f}"
    which = "spot-check kappa" if current.phase.name == "single" else "kappa (recent window)"
    typer.echo(f"{phase}" + (f" since {current.phase.since:%Y-%m-%d %H:%M}" if
                              current.phase.since else ""))  # fmt: skip
    raw = "-" if a.raw_agreement is None else f"{a.raw_agreement:.0%}"
    typer.echo(f"{which}: {kappa} over {a.pairs} doc pairs (raw agreement {raw})"
               + (f"; {a.note}" if a.note else ""))  # fmt: skip
    if current.phase.name == "single":
        typer.echo(f"health: {current.health} (kappa_fallback {current.target})")
    else:
        bar = "#" * round(20 * (current.progress or 0))
        typer.echo(f"progress to {current.target}: [{bar:<20}] {current.health}")
    table = Table(title="Judge cost per phase (api_cost_log: judge + spot_check)")
    for column in ("phase", "docs judged", "cost", "per doc"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for c in current.costs:
        table.add_row(c.phase, str(c.docs), _eur(c.cost_eur), _eur(c.per_doc_eur))
    Console().print(table)
    if current.saving is not None:
        typer.echo(f"phase 2 costs {current.saving:.0%} less per judged doc than phase 1")


@judge_app.command("status")
@with_database
def judge_status(conn, settings, as_json: bool = JSON_OPTION) -> None:
    """The phase, kappa (and progress to the threshold), health, and the cost per phase."""
    current = staged_judge.status(conn, settings, _now())
    if as_json:
        typer.echo(json.dumps(_status_data(current), default=str, indent=2))
    else:
        _print_status(current)


@judge_app.command("evaluate")
@with_database
def judge_evaluate(
    conn, settings,
    apply: bool = typer.Option(False, "--apply", help="Perform a recommended move to phase 2"),
    as_json: bool = JSON_OPTION,
) -> None:  # fmt: skip
    """Decide the phase: recommend (or --apply) phase 2; revert a LOW phase 2 (and alert)."""
    decision = staged_judge.evaluate(conn, settings, _now(), apply=apply)
    sent: list[str] = []
    if decision.action == "revert":
        sent = _alert(settings, decision.message)
    if as_json:
        data = {"action": decision.action, "message": decision.message, "alerted_via": sent,
                "status": _status_data(decision.status)}  # fmt: skip
        typer.echo(json.dumps(data, default=str, indent=2))
    else:
        typer.echo(decision.message + (f" (alerted via {', '.join(sent)})" if sent else ""))


def _alert(settings, message: str) -> list[str]:
    from mcp_server.budget.alerts import channels, send

    if not channels(settings):
        typer.echo("warning: no alert channel configured for the revert alert", err=True)
        return []
    try:
        return send(settings, f"Cognitive Memory judge on {settings.database.name}: {message}")
    except Exception as error:  # the revert is recorded whether or not the alert goes out
        typer.echo(f"warning: revert alert not sent: {error}", err=True)
        return []


@judge_app.command("list")
@with_database
def judge_list(
    conn, settings, limit: int = typer.Option(20, min=1, max=10000), as_json: bool = JSON_OPTION
) -> None:
    """Recent ground-truth rows: phase, kappa, relevant ids, corrected or not."""
    rows = ground_truth.recent(conn, limit)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(title="Ground truth (newest first)")
    for column in ("id", "created", "phase", "docs", "kappa", "relevant ids", "corrected", "query"):
        table.add_column(column)
    for r in rows:
        kappa = "-" if r["kappa"] is None else f"{r['kappa']:.2f}"
        table.add_row(str(r["id"]), f"{r['created_at']:%Y-%m-%d %H:%M}", r["phase"],
                      str(r["docs"]), kappa, ",".join(map(str, r["expected_docs"])),
                      "yes" if r["corrected"] else "", r["query"][:60])  # fmt: skip
    Console().print(table)


@judge_app.command("correct")
@with_database
def judge_correct(
    conn, settings,
    row_id: int = typer.Argument(..., help="ground_truth id (see: judge list)"),
    scores: str = typer.Argument(..., help="Your relevance per judged doc, in order: 1,0,0.5"),
) -> None:  # fmt: skip
    """Correct a ground-truth row by hand; the golden bootstrap then uses your scores."""
    try:
        values = [float(s) for s in scores.split(",")]
    except ValueError:
        raise ground_truth.CorrectionError(
            f"scores must be numbers separated by commas, e.g. 1,0,0.5; not {scores!r}"
        ) from None
    relevant = ground_truth.correct(conn, row_id, values)
    typer.echo(f"ground_truth {row_id} corrected; relevant insight ids: {relevant or 'none'}")


@golden_app.command("add")
@with_database
def golden_add(
    conn, settings,
    query: str = typer.Argument(..., help="The query"),
    expected: str = typer.Option(..., "--expected", help="Insight ids it must find: 12,15"),
    query_type: str | None = typer.Option(None, "--type", help="short|medium|long (default: "
                                          "from the number of words)"),
) -> None:  # fmt: skip
    """Add one query with the insight ids a good search returns."""
    try:
        ids = [int(i) for i in expected.split(",")]
    except ValueError:
        raise golden.GoldenSetError(f"--expected takes ids like 12,15; not {expected!r}") from None
    row_id = golden.add(conn, golden.entry(query, ids, query_type))
    typer.echo(f"added golden entry {row_id}")


@golden_app.command("import")
@with_database
def golden_import(
    conn, settings, path: Path = typer.Argument(..., help="JSON Lines file, or - for stdin")
) -> None:
    """Import {"query", "expected_docs", "query_type"} lines; existing queries are updated."""
    source = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    with source:
        entries = golden.parse_lines(source)
    inserted, updated = golden.upsert(conn, entries)
    typer.echo(f"imported {inserted} new, updated {updated} golden entries")


@golden_app.command("export")
@with_database
def golden_export(conn, settings) -> None:
    """Print the golden set as JSON Lines (the format import reads)."""
    for item in golden.export(conn):
        typer.echo(item.line())


@golden_app.command("list")
@with_database
def golden_list(conn, settings, as_json: bool = JSON_OPTION) -> None:
    """The golden set, oldest first."""
    rows = golden.listing(conn)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(title=f"Golden test set ({len(rows)} queries)")
    for column in ("id", "type", "query", "expected ids"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["query_type"], r["query"][:70],
                      ",".join(map(str, r["expected_docs"])))  # fmt: skip
    Console().print(table)


@golden_app.command("remove")
@with_database
def golden_remove(
    conn, settings, ids: list[int] = typer.Argument(..., help="Golden entry ids")
) -> None:
    """Remove entries by id."""
    golden.remove(conn, ids)
    typer.echo(f"removed {len(ids)} golden entr{'y' if len(ids) == 1 else 'ies'}")


@golden_app.command("bootstrap")
@with_database
def golden_bootstrap(conn, settings) -> None:
    """Fill the set from ground truth: docs both judges (or your correction) called relevant."""
    inserted, updated = golden.bootstrap(conn)
    typer.echo(f"bootstrapped {inserted} new, updated {updated} golden entries from ground truth")
