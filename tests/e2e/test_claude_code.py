"""The real Claude Code CLI registers the server, as the README tells a new user to.

npm `@anthropic-ai/claude-code` (installed by `make claude-code`, part of `make test`), a
throwaway HOME, and only `claude mcp add/list/get`: no model is called. It runs from a
project folder that holds an unrelated config/config.yaml, as real projects do, and pastes
the line `cognitive-memory mcp-config` prints. When Claude Code has stopped its servers,
no PostgreSQL of theirs may be left.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from mcp_server.config import SECRET_VARIABLES
from tests.conftest import REPO
from tests.support.commands import cognitive_memory

pytestmark = pytest.mark.timeout(300)

CLAUDE = REPO / ".npm-tools" / "node_modules" / ".bin" / "claude"
GONE_WITHIN_S = 15


@pytest.fixture
def user(tmp_path) -> dict[str, str]:
    """A new user's environment: an empty home, the embedded cluster in a folder of its own."""
    if not CLAUDE.exists():
        pytest.skip("the Claude Code CLI is missing: run `make claude-code`")
    home = tmp_path / "home"
    home.mkdir()
    unset = {*SECRET_VARIABLES, "ENVIRONMENT", "COGMEM_CONFIG_DIR", "XDG_CONFIG_HOME"}
    env = {name: value for name, value in os.environ.items() if name not in unset}
    return env | {"HOME": str(home), "COGMEM_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "config.yaml").write_text("app:\n  name: the project's own\n")
    return folder


def run(command: list[str], user: dict[str, str], project: Path) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=user, cwd=project,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def cluster_processes(data: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if str(data) in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_claude_code_connects_from_a_foreign_project_and_leaves_no_postgres(user, project):
    printed = run(cognitive_memory("mcp-config"), user, project)
    add_line = next(line for line in printed.splitlines() if "claude mcp add" in line)
    add = shlex.split(add_line)
    assert add[:3] == ["claude", "mcp", "add"]
    run([str(CLAUDE), *add[1:]], user, project)

    listed = run([str(CLAUDE), "mcp", "list"], user, project)
    assert "cognitive-memory" in listed and "✔ Connected" in listed, listed
    shown = run([str(CLAUDE), "mcp", "get", "cognitive-memory"], user, project)
    assert "Connected" in shown and "Failed" not in shown, shown

    data = Path(user["COGMEM_DATA_DIR"])
    assert (data / "pgdata" / "PG_VERSION").exists()  # the server did start its cluster
    started = time.monotonic()
    while left := cluster_processes(data):
        assert time.monotonic() - started < GONE_WITHIN_S, left
        time.sleep(0.2)
