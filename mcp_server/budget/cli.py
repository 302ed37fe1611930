"""`python -m mcp_server.budget.cli dashboard|breakdown|optimize|alerts|daily`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from mcp_server.budget import alerts as alerting
from mcp_server.budget import report
from mcp_server.runtime import database_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output")
DAYS_OPTION = typer.Option(30, "--days", min=1, max=3660, help="How many days back")
with_database = database_command()


def _table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for column in rows[0] if rows else ("(no costs logged)",):
        table.add_column(column, justify="left" if column in ("api_name", "date") else "right")
    for row in rows:
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()))
    return table


def _status(conn, settings) -> report.MonthStatus:
    return report.month_status(
        conn, settings.budget.monthly_limit_eur, settings.budget.alert_threshold_pct
    )


def _emit(data, as_json: bool, render) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str, indent=2))
    else:
        render()


@app.command()
@with_database
def dashboard(conn, settings, as_json: bool = JSON_OPTION) -> None:
    """This month's spending against the budget."""
    status = _status(conn, settings)
    data = {"month_start": status.month_start, "spent_eur": round(status.spent_eur, 6),
            "limit_eur": status.limit_eur, "used_pct": round(status.used_pct, 1),
            "projected_eur": round(status.projected_eur, 4), "level": status.level}  # fmt: skip
    table = Table(title=f"Budget {settings.database.name}", show_header=False)
    for key, value in data.items():
        table.add_row(key, str(value))
    _emit(data, as_json, lambda: Console().print(table))


@app.command()
@with_database
def breakdown(conn, settings, days: int = DAYS_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Cost per API over the last N days."""
    rows = report.breakdown(conn, days)
    _emit(rows, as_json, lambda: Console().print(_table(f"Cost per API, {days} days", rows)))


@app.command()
@with_database
def daily(conn, settings, days: int = DAYS_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Cost per day over the last N days."""
    rows = report.daily(conn, days)
    _emit(rows, as_json, lambda: Console().print(_table(f"Cost per day, {days} days", rows)))


@app.command()
@with_database
def optimize(conn, settings, as_json: bool = JSON_OPTION) -> None:
    """Where the money goes and what would cut it."""
    judges = report.judge_spend(conn, 30, settings.staged_dual_judge.spot_check_rate)
    advice = report.suggestions(report.breakdown(conn, 30), _status(conn, settings), judges)
    _emit(advice, as_json, lambda: [typer.echo(f"- {line}") for line in advice])


@app.command()
@with_database
def alerts(
    conn, settings, send: bool = typer.Option(False, "--send", help="Mail/Slack when over"),
    as_json: bool = JSON_OPTION,
) -> None:  # fmt: skip
    """Check the budget threshold; with --send, alert through the configured channels."""
    status = _status(conn, settings)
    text = alerting.message(status, settings.database.name)
    sent: list[str] = []
    if send and status.level != "ok":
        sent = alerting.send(settings, text)
        if not sent:
            typer.echo("warning: no alert channel configured (SMTP_HOST + ALERT_EMAIL_TO or "
                       "SLACK_WEBHOOK_URL in the env file)", err=True)  # fmt: skip
    suffix = f" (sent via {', '.join(sent)})" if sent else ""
    data = {"level": status.level, "message": text, "sent_via": sent}
    _emit(data, as_json, lambda: typer.echo(text + suffix))


if __name__ == "__main__":
    app(prog_name="python -m mcp_server.budget.cli")
