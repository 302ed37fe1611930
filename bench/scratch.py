"""A benchmark's private embedded cluster: never the user's memories, gone when the run ends."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def private_cluster(prefix: str = "cogmem-bench-") -> Path:
    """Point the embedded cluster at a new temporary folder; stop and delete it at exit.

    A 100k x 1536 run leaves about a gigabyte there, and a run that is interrupted still
    ends through atexit (KeyboardInterrupt included).
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["COGMEM_DATA_DIR"] = str(folder)
    # Registered before the cluster starts, so it runs after the embedded module's own hooks.
    atexit.register(_remove, folder)
    return folder


def _remove(folder: Path) -> None:
    from mcp_server.db import embedded

    if (folder / "pgdata").is_dir():
        embedded.stop(folder / "pgdata", force=True)
    shutil.rmtree(folder, ignore_errors=True)
