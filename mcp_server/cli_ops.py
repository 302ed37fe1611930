"""Operations on the data: backup, restore, import, psql, and the watch over scheduled jobs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from mcp_server.cli_support import (
    ENV_OPTION,
    Environment,
    load_for_database_work,
    set_environment,
    user_errors,
)
from mcp_server.ops.errors import OpsError

backup_app = typer.Typer(no_args_is_help=True, help="Dumps: make, list, check, test-restore.")
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
DIR_OPTION = typer.Option(
    None, "--dir", help="Dump folder (default: $COGMEM_BACKUP_DIR or <data dir>/backups)"
)
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON")


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.command("restore")(user_errors(restore))
    app.command("import")(user_errors(import_l2))
    app.command("psql", context_settings=PASSTHROUGH)(user_errors(psql))
    app.command("job", context_settings=PASSTHROUGH)(job)
    app.command("alert")(user_errors(alert))


def _backup_dir(given: Path | None) -> Path:
    if given:
        return given
    if explicit := os.environ.get("COGMEM_BACKUP_DIR"):
        return Path(explicit)
    from mcp_server.db.embedded import data_dir

    folder = data_dir() / "backups"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _database(env: Environment | None):
    """(runtime, embedded?) of the environment's database."""
    loaded = load_for_database_work(env)
    return loaded, loaded.settings.secret("DATABASE_URL") is None


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@backup_app.command("run")
@user_errors
def backup_run(
    directory: Path | None = DIR_OPTION,
    keep_days: int = typer.Option(
        int(os.environ.get("COGMEM_BACKUP_RETENTION_DAYS", "7")),
        "--keep-days",
        help="Delete dumps older than this (never the newest good one)",
    ),
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Dump the database (pg_dump -Fc), verify it, seal it with its sha256, apply retention."""
    from mcp_server.ops.backup import run_backup

    loaded, embedded = _database(env)
    result = run_backup(loaded.database_url, _backup_dir(directory), keep_days=keep_days,
                        embedded=embedded)  # fmt: skip
    if as_json:
        _echo_json({"dump": str(result.dump.path), "size": result.size, "rows": result.rows,
                    "deleted": [str(p) for p in result.deleted]})  # fmt: skip
        return
    typer.echo(
        f"backup written: {result.dump.path} ({result.size / 1e6:.1f} MB, "
        f"{sum(result.rows.values())} rows, sha256 in {result.dump.checksum_path.name})"
    )
    for path in result.deleted:
        typer.echo(f"deleted old backup: {path}")


@backup_app.command("list")
@user_errors
def backup_list(
    directory: Path | None = DIR_OPTION,
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every dump of this environment's database, newest first, with its checksum verified."""
    from mcp_server.ops import dumps

    loaded = load_for_database_work(env)
    rows = []
    for dump in dumps.listing(_backup_dir(directory), loaded.settings.database.name):
        try:
            dumps.verify(dump)
            state = "good"
        except OpsError:
            state = "DAMAGED" if dump.sealed else "unfinished"
        manifest = dump.manifest()
        rows.append({"dump": str(dump.path), "created_at": dump.created.isoformat(),
                     "size": dump.path.stat().st_size, "state": state,
                     "rows": sum(manifest.get("rows", {}).values())})  # fmt: skip
    if as_json:
        _echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dumps of {loaded.settings.database.name}")
    table.add_column("dump", overflow="fold")
    for column in ("taken (UTC)", "MB", "rows", "checksum"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        style = "" if row["state"] == "good" else "red"
        table.add_row(Path(row["dump"]).name, row["created_at"][:19], f"{row['size'] / 1e6:.1f}",
                      str(row["rows"]), row["state"], style=style)  # fmt: skip
    Console().print(table)


@backup_app.command("check")
@user_errors
def backup_check(
    directory: Path | None = DIR_OPTION,
    max_age_hours: float = typer.Option(26, help="Older than this is stale"),
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Exit 1 unless the newest good dump is younger than --max-age-hours and none newer is
    damaged (its sha256 no longer matches)."""
    from mcp_server.ops import dumps

    loaded = load_for_database_work(env)
    folder, database = _backup_dir(directory), loaded.settings.database.name
    state = dumps.health(folder, database)
    problems = state.problems(max_age_hours)
    newest = state.newest_good
    if as_json:
        _echo_json({"fresh": not problems, "dump": str(newest.path) if newest else None,
                    "age_hours": state.age_hours, "max_age_hours": max_age_hours,
                    "damaged": [str(d.path) for d in state.damaged]})  # fmt: skip
    elif problems:
        for problem in problems:
            typer.echo(f"stale: {database} in {folder}: {problem}", err=True)
    else:
        typer.echo(f"fresh: {newest.path} is {state.age_hours:.1f} h old")
    if problems:
        raise typer.Exit(1)


@backup_app.command("test-restore")
@user_errors
def backup_test_restore(
    dump: Path | None = typer.Argument(None, help="Default: the newest finished dump"),
    directory: Path | None = DIR_OPTION,
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a dump in full into a scratch database, compare row counts, run a hybrid search."""
    from mcp_server.ops import dumps
    from mcp_server.ops.restore_test import run_restore_test

    loaded, embedded = _database(env)
    settings = loaded.settings
    # The newest finished dump, damaged or not: a damaged one must fail the test (and alert).
    newest = None
    if dump is None:
        newest = dumps.newest_sealed(_backup_dir(directory), settings.database.name)
        if newest is None:
            raise OpsError(f"no finished dump of {settings.database.name} to test")
    chosen = dumps.Dump(dump.resolve()) if dump else newest
    result = run_restore_test(
        loaded.database_url, chosen, settings.database.name, settings.search, embedded=embedded
    )
    if as_json:
        _echo_json({"dump": str(result.dump.path), "rows": result.rows,
                    "searched_insight": result.searched_insight})  # fmt: skip
        return
    search = (f"hybrid search found insight {result.searched_insight} first"
              if result.searched_insight else "no insights to search")  # fmt: skip
    typer.echo(f"restore test passed: {result.dump.path.name} restored into a scratch database, "
               f"{sum(result.rows.values())} rows in {len(result.rows)} tables as counted at "
               f"dump time; {search}; scratch database dropped")  # fmt: skip


def restore(
    dump: Path | None = typer.Argument(None, help="A dump made by `cognitive-memory backup run`"),
    time: str | None = typer.Option(
        None,
        "--time",
        help="Instead of a dump: the cluster at this moment, from the backup "
        "host (pgBackRest), e.g. '2026-11-26 01:30:00+00'",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a dump into the database, safely (checksum, confirmation, swap when complete).

    Stops the service, restores beside the live database, checks row counts, swaps it in
    (the replaced one kept as <db>__previous), starts the service, prints each step. With
    --time: the whole cluster at that moment from pgBackRest, restored beside the live one.
    """
    from mcp_server.ops import dumps
    from mcp_server.ops.restore import DumpRestore, Service, perform

    if (dump is None) == (time is None):
        typer.echo("error: give a DUMP or --time (one of them)", err=True)
        raise typer.Exit(2)
    loaded, embedded = _database(env)
    settings = loaded.settings
    if time is not None:
        from mcp_server.ops.pitr import PitrRestore

        method = PitrRestore(time, settings.database.name, _port(loaded.database_url))
    else:
        method = DumpRestore(dumps.Dump(dump.resolve()), loaded.database_url,
                             settings.database.name, embedded=embedded,
                             migrate=_migrator(settings))  # fmt: skip
    say = (lambda _: None) if as_json else typer.echo
    outcome = perform(
        method,
        confirm=lambda question: yes or _typed_name(question, settings.database.name),
        service=Service(managed=settings.environment == "production" and not embedded),
        say=say,
    )
    if as_json:
        _echo_json({"database": settings.database.name, "steps": outcome.steps,
                    "rows": outcome.rows})  # fmt: skip
    else:
        typer.echo(f"done: {settings.database.name} holds {sum(outcome.rows.values())} rows "
                   f"in {len(outcome.rows)} tables")  # fmt: skip


def _port(url: str) -> int:
    from psycopg.conninfo import conninfo_to_dict

    return int(conninfo_to_dict(url).get("port") or 5432)


def _typed_name(question: str, database: str) -> bool:
    answer = typer.prompt(f"{question}?\nType the database name ({database}) to go on",
                          default="", show_default=False, err=True)  # fmt: skip
    return answer.strip() == database


def _migrator(settings):
    def migrate(url: str) -> list[str]:
        import psycopg

        from mcp_server.db import migrator

        with psycopg.connect(url, autocommit=True) as conn:
            done = migrator.migrate(conn, embedding_dim=settings.embedding.dimension)
        return [m.file_name for m in done]

    return migrate


def import_l2(
    source: Path = typer.Argument(..., help="An L2 export: its git folder or the .jsonl file"),
    at: str | None = typer.Option(
        None, "--at", help="The export as of a day (YYYY-MM-DD) or a commit id (default: newest)"
    ),
    batch_size: int = typer.Option(64, min=1, max=2048, help="Texts per embedding request"),
    env: Environment | None = ENV_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Replay an L2 export, embedding each insight with the configured model.

    Insights already present (same id) are skipped, so a replay can be repeated.
    """
    import anyio

    from mcp_server import runtime

    started = runtime.start(set_environment(env))
    result = anyio.run(_import, started, source, at, batch_size, as_json)
    if as_json:
        _echo_json(result.__dict__)
    else:
        typer.echo(
            f"imported {result.imported} insights from {result.source} "
            f"({result.skipped} already present), embedded with {result.model}"
        )


async def _import(started, source: Path, at: str | None, batch_size: int, quiet: bool):
    from rich.console import Console
    from rich.progress import Progress

    from mcp_server.db.connection import open_pool
    from mcp_server.ops import importer
    from mcp_server.providers.costs import pool_cost_sink
    from mcp_server.providers.factory import close_provider, make_embedder

    records = importer.read_export(source, at)
    pool = await open_pool(started.settings, started.database_url)
    embedder = make_embedder(started.settings, pool_cost_sink(pool))
    try:
        async with pool.connection() as conn:
            with Progress(console=Console(stderr=True), disable=quiet) as progress:
                task = progress.add_task("importing", total=len(records))
                return await importer.replay(
                    conn, embedder, records, batch_size=batch_size, source=str(source),
                    text_search_config=started.settings.search.text_search_config,
                    context_turns=started.settings.search.context_turns,
                    advance=lambda n: progress.advance(task, n),
                )  # fmt: skip
    finally:
        await close_provider(embedder)
        await pool.close()


def psql(ctx: typer.Context, env: Environment | None = ENV_OPTION) -> None:
    """psql, connected as the server connects: cognitive-memory psql -c "SELECT 1;"."""
    import subprocess

    from mcp_server.ops import pgtools
    from mcp_server.ops.libpq_env import client_environment

    loaded, embedded = _database(env)
    with client_environment(loaded.database_url) as client_env:
        done = subprocess.run([pgtools.tool("psql", embedded=embedded), *ctx.args],
                              env=client_env, check=False)  # fmt: skip
    raise typer.Exit(done.returncode)


def job(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Job name: backup, export-l2, drift-check, ..."),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Where each job's last run is kept (default: $COGMEM_STATE_DIR)"
    ),
) -> None:
    """Run `-- COMMAND ...`, record its outcome, and alert (mail/Slack) when it fails."""
    from mcp_server.ops import jobs

    argv = [a for a in ctx.args if a != "--"] if ctx.args[:1] == ["--"] else ctx.args
    if not argv:
        typer.echo("error: which command? cognitive-memory job NAME -- COMMAND ...", err=True)
        raise typer.Exit(2)
    result = jobs.run(name, argv)
    jobs.record(_state_dir(state_dir), result)
    if not result.ok:
        _alert_or_say(f"{name} failed", result.summary())
    raise typer.Exit(result.exit_code)


def _state_dir(given: Path | None) -> Path:
    if given:
        return given
    if explicit := os.environ.get("COGMEM_STATE_DIR"):
        return Path(explicit)
    from mcp_server.db.embedded import data_dir

    return data_dir() / "jobs"


def _alert_or_say(subject: str, details: str) -> bool:
    """Alert through the configured channels; a channel that fails is reported, not raised.

    Returns whether the alert went out somewhere."""
    from mcp_server.config import load_settings
    from mcp_server.ops import alerting

    try:
        used = alerting.send(load_settings(providers=False), subject, details)
    except Exception as error:  # the alert must not hide the failure it reports
        print(f"error: the alert could not be sent: {error}", file=sys.stderr)
        return False
    where = ", ".join(used) or "nowhere (set SMTP_HOST + ALERT_EMAIL_TO or SLACK_WEBHOOK_URL)"
    print(f"alert sent {where}: {alerting.text(subject, details)}", file=sys.stderr)
    return bool(used)


def alert(
    unit: str | None = typer.Option(None, help="A systemd unit that failed (its OnFailure=)"),
    message: str | None = typer.Option(None, help="Any text to send"),
) -> None:
    """Send an operational alert through the budget alert channels (mail/Slack); exit 1 when
    it reached no channel (so a test alert proves the channel works)."""
    if unit:
        sent = _alert_or_say("service failed", f"systemd gave up on {unit}: {_unit_state(unit)}")
    elif message:
        sent = _alert_or_say("alert", message)
    else:
        raise OpsError("say what: --unit UNIT or --message TEXT")
    if not sent:
        raise typer.Exit(1)


def _unit_state(unit: str) -> str:
    import subprocess

    shown = subprocess.run(
        ["systemctl", "show", unit, "--property=Result,ExecMainStatus,NRestarts,ActiveState"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return ", ".join(shown.stdout.split()) or "state unknown"
