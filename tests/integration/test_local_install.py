"""A local install as Claude Code meets it: the configuration follows the user, not the cwd."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.support.commands import cognitive_memory

pytestmark = pytest.mark.timeout(120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's project folder with a config/config.yaml of its own (a common name)."""
    folder = tmp_path / "project"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "config.yaml").write_text("app:\n  name: the project's own\n")
    return folder


@pytest.fixture
def home(tmp_path) -> Path:
    """An XDG config home with nothing in it yet: the user's first run."""
    return tmp_path / "xdg"


def user_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "COGMEM_CONFIG_DIR")}
    return env | {"XDG_CONFIG_HOME": str(home), "COGMEM_LOG_LEVEL": "WARNING"} | extra


def run(*args: str, home: Path, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(cognitive_memory(*args), capture_output=True, text=True,
                          env=user_env(home, **extra), cwd=cwd, timeout=60)  # fmt: skip


def test_a_server_started_in_a_foreign_project_uses_the_users_folder(project, home):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=user_env(home), cwd=str(project)
    )

    async def ping() -> dict:
        async with Client(params, read_timeout_seconds=60) as client:
            return (await client.call_tool("ping", {})).structured_content

    assert anyio.run(ping)["database_reachable"] is True
    folder = home / "cognitive-memory"
    assert mode(folder) == 0o700
    assert mode(folder / ".env.development") == 0o600
    assert "development:" in (folder / "config.yaml").read_text()
    assert (project / "config" / "config.yaml").read_text().startswith("app:")


def test_init_creates_the_folder_once_and_keeps_what_the_user_changed(project, home):
    first = run("init", home=home, cwd=project)
    assert first.returncode == 0, first.stderr
    folder = home / "cognitive-memory"
    assert f"created {folder / '.env.development'}" in first.stdout
    assert mode(folder / ".env.development") == 0o600
    env_file = (folder / ".env.development").read_text()
    assert not re.search(r"^[A-Z_]+=", env_file, flags=re.M)  # nothing set until the user sets it

    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("capacity: 10", "capacity: 12"))
    second = run("init", home=home, cwd=project)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    assert "capacity: 12" in config.read_text()


def test_mcp_config_pins_the_folder_it_created(project, home):
    result = run("mcp-config", home=home, cwd=project)
    assert result.returncode == 0, result.stderr
    folder = home / "cognitive-memory"
    assert f"--env COGMEM_CONFIG_DIR={folder} --" in result.stdout
    local = json.loads(re.search(r"^\{\n.*?\n\}$", result.stdout, flags=re.S | re.M)[0])
    assert local["mcpServers"]["cognitive-memory"]["env"]["COGMEM_CONFIG_DIR"] == str(folder)
    assert (folder / "config.yaml").is_file()


def test_a_named_folder_without_config_says_how_to_create_it(project, home, tmp_path):
    missing = tmp_path / "nowhere"
    result = run("serve", home=home, cwd=project, COGMEM_CONFIG_DIR=str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: Config file not found: {missing / 'config.yaml'}; "
        "create it with: cognitive-memory init"
    )
    assert not missing.exists()


def test_python_m_mcp_server_help_prints_help_instead_of_serving(project, home):
    result = subprocess.run([sys.executable, "-m", "mcp_server", "--help"], capture_output=True,
                            text=True, env=user_env(home), cwd=project, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--transport" in result.stdout
    assert not (home / "cognitive-memory").exists()  # nothing was started
