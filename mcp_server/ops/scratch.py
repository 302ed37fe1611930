"""Restoring a dump into a database of its own, next to the live one, and swapping it in.

The app's role does all of it (no superuser): it may create databases (CREATEDB), pgvector is
installed in template1 by the deploy so every new database has it, and the role may rename
the databases it owns. Names: <db>__restoring (being restored), <db>__previous (what the
last restore replaced), <db>__restore_test (the weekly restore test).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from mcp_server.ops import pgtools
from mcp_server.ops.backup import table_counts
from mcp_server.ops.dumps import Dump
from mcp_server.ops.errors import OpsError
from mcp_server.ops.libpq_env import client_environment

RESTORING, PREVIOUS, RESTORE_TEST = "__restoring", "__previous", "__restore_test"
# Entries the app role cannot (and need not) restore: the extension belongs to the superuser.
SKIPPED = (" EXTENSION ", " COMMENT - EXTENSION ")


def url_of(url: str, database: str) -> str:
    return make_conninfo(url, dbname=database)


def admin(url: str, database: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url_of(url, database), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise OpsError(f"cannot connect to {database}: {str(error).strip()}") from None


def drop(conn: psycopg.Connection, database: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    conn.execute(statement.format(sql.Identifier(database)))


def restore_into(url: str, dump: Dump, database: str, *, embedded: bool) -> dict[str, int]:
    """A new database `database` holding the dump; returns its row counts. Dropped on failure."""
    live = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with admin(url, live) as conn:
        drop(conn, database)
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.Error as error:
            raise OpsError(f"cannot create the database {database}: {error}".strip()) from None
    try:
        with admin(url, database) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")  # present via template1
        _pg_restore(url, dump, database, embedded)
        with admin(url, database) as conn:
            return table_counts(conn)
    except BaseException:
        with admin(url, live) as conn:
            drop(conn, database)
        raise


def _pg_restore(url: str, dump: Dump, database: str, embedded: bool) -> None:
    pg_restore = pgtools.tool("pg_restore", embedded=embedded)
    with client_environment(url, PGDATABASE=database) as env, tempfile.TemporaryDirectory() as tmp:
        listing = pgtools.run([pg_restore, "--list", str(dump.path)], env, "pg_restore --list")
        entries = Path(tmp) / "entries"
        entries.write_text("".join(line + "\n" for line in listing.stdout.splitlines()
                                   if not any(s in line for s in SKIPPED)))  # fmt: skip
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        pgtools.run(
            [pg_restore, "--no-password", "--no-owner", "--no-privileges", "--exit-on-error",
             f"--jobs={jobs}", f"--use-list={entries}", f"--dbname={database}", str(dump.path)],
            env, f"pg_restore into {database}",
        )  # fmt: skip


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> None:
    """Every table the dump counted must hold exactly that many rows."""
    wrong = [f"{t}: {actual.get(t)} rows, the dump had {n}"
             for t, n in expected.items() if actual.get(t) != n]  # fmt: skip
    if wrong:
        raise OpsError("row counts differ after the restore: " + "; ".join(wrong))


def swap(url: str, live: str, restored: str) -> str:
    """Put `restored` in place of `live`; the old one is kept as <live>__previous.

    Two renames: if the second fails, the first is undone, so `live` always names a database.
    """
    previous = live + PREVIOUS
    with admin(url, restored) as conn:
        drop(conn, previous)
        _rename_when_idle(conn, live, previous)
    try:
        with admin(url, previous) as conn:
            _rename(conn, restored, live)
    except (OpsError, psycopg.Error):
        with admin(url, restored) as conn:
            _rename(conn, previous, live)
        raise
    return previous


def _rename_when_idle(conn: psycopg.Connection, old: str, new: str, attempts: int = 5) -> None:
    """Rename a database after ending its sessions (a cron job may just have connected)."""
    for attempt in range(attempts):
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [old],
        )
        try:
            return _rename(conn, old, new)
        except psycopg.errors.ObjectInUse:
            if attempt == attempts - 1:
                raise OpsError(f"{old} is still in use; nothing changed") from None
            time.sleep(0.5)


def _rename(conn: psycopg.Connection, old: str, new: str) -> None:
    conn.execute(
        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new))
    )
