"""The daily dump: consistent, checked, sealed, one at a time, with retention.

The row counts in a dump's manifest are taken in the very snapshot pg_dump reads
(`pg_export_snapshot` + `pg_dump --snapshot`), so a restore can be checked against them exactly.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from mcp_server.ops import dumps, pgtools
from mcp_server.ops.dumps import PARTIAL, Dump
from mcp_server.ops.errors import OpsError
from mcp_server.ops.libpq_env import client_environment

LOCK_FILE = ".backup.lock"


@dataclass(frozen=True)
class BackupResult:
    dump: Dump
    size: int
    rows: dict[str, int]
    deleted: list[Path] = field(default_factory=list)


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """One backup per folder at a time; a second one fails at once instead of waiting."""
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"
            raise OpsError(
                f"another backup is running in {directory} (pid {holder}); not started"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every ordinary table in the public schema."""
    names = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    ).fetchall()
    return {
        name: conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
        ).fetchone()[0]
        for (name,) in names
    }


def _remove_leftovers(directory: Path) -> None:
    """Partial files of a run that died (we hold the lock, so none is in progress)."""
    for leftover in directory.glob(f".*{PARTIAL}"):
        leftover.unlink(missing_ok=True)


def run_backup(
    url: str, directory: Path, *, keep_days: int, embedded: bool, now: dt.datetime | None = None
) -> BackupResult:
    if not directory.is_dir():
        raise OpsError(f"backup folder {directory} does not exist")
    if keep_days < 1:
        raise OpsError("retention must be at least 1 day")
    private = os.umask(0o077)  # every memory is in a dump: mode 600, whoever runs it
    try:
        return _locked_backup(url, directory, keep_days, embedded, now)
    finally:
        os.umask(private)


def _locked_backup(url, directory, keep_days, embedded, now) -> BackupResult:
    with exclusive(directory):
        _remove_leftovers(directory)
        now = now or dt.datetime.now(dt.UTC)
        result = _dump(url, directory, embedded, now)
        keep = result.dump
        deleted = list(dumps.prune(directory, keep.path.name.rsplit("_", 1)[0], keep_days,
                                   keep, now))  # fmt: skip
        return BackupResult(result.dump, result.size, result.rows, deleted)


def _dump(url: str, directory: Path, embedded: bool, now: dt.datetime) -> BackupResult:
    try:
        source = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise OpsError(f"cannot connect to the database: {str(error).strip()}") from None
    with source:
        database = source.info.dbname
        final = Dump(directory / f"{database}_{dumps.stamp(now)}.dump")
        partial = directory / f".{final.path.name}{PARTIAL}"
        try:
            source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = source.execute("SELECT pg_export_snapshot()").fetchone()[0]
            rows = table_counts(source)
            with client_environment(url) as env:
                pgtools.run(
                    [pgtools.tool("pg_dump", embedded=embedded), "--format=custom",
                     "--compress=6", "--no-password", f"--snapshot={snapshot}",
                     f"--file={partial}", database],
                    env, "pg_dump",
                )  # fmt: skip
            source.rollback()  # the snapshot has served
            _check_listing(partial, rows, embedded)
            size = partial.stat().st_size
            manifest = {
                "database": database,
                "created_at": now.isoformat(),
                "rows": rows,
                "sha256": dumps.sha256_of(partial),
                "size": size,
                "server_version": source.info.server_version,
            }
            dumps.seal(partial, final, manifest)
        except OSError as error:
            dumps.discard(final)
            raise OpsError(f"writing {final.path} failed: {error}") from None
        except psycopg.Error as error:
            dumps.discard(final)
            raise OpsError(f"the database failed during the backup: {str(error).strip()}") from None
        except OpsError:
            dumps.discard(final)
            raise
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(final, size, rows)


def _check_listing(dump: Path, rows: dict[str, int], embedded: bool) -> None:
    """pg_restore must read the whole table of contents and find every counted table."""
    listing = pgtools.run(
        [pgtools.tool("pg_restore", embedded=embedded), "--list", str(dump)],
        dict(os.environ), "pg_restore --list",
    ).stdout  # fmt: skip
    missing = [t for t in rows if f" TABLE DATA public {t} " not in listing]
    if missing:
        raise OpsError(f"the dump lacks the data of {', '.join(missing)}")
