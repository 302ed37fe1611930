"""The command line as a user meets it: one clear line and exit code 2 for what they must fix."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import REPO
from tests.support.commands import cognitive_memory

pytestmark = pytest.mark.timeout(120)


def run_cli(*args, config_dir, extra_env=None, stdin=""):
    env = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "DATABASE_URL")}
    env.update({"COGMEM_CONFIG_DIR": str(config_dir), **(extra_env or {})})
    return subprocess.run(
        cognitive_memory(*args),
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        cwd=REPO,
    )


def assert_one_line_error(result, fragment):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("config_text", "fragment"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("base: {oops: 1}\n", "unknown key 'oops'"),
        ("base: [\n", "not valid YAML"),
    ],
)
def test_bad_config_exits_2_with_one_line(config_dir, config_text, fragment):
    (config_dir / "config.yaml").write_text(config_text)
    assert_one_line_error(run_cli("serve", config_dir=config_dir), fragment)


def test_unreadable_config_exits_2(config_dir):
    os.chmod(config_dir / "config.yaml", 0)
    if os.geteuid() == 0:  # root reads anything: make it a directory instead
        os.chmod(config_dir / "config.yaml", 0o600)
        (config_dir / "config.yaml").unlink()
        (config_dir / "config.yaml").mkdir()
    assert_one_line_error(run_cli("serve", config_dir=config_dir), "Cannot read config file")


def test_invalid_environment_exits_2(config_dir):
    result = run_cli("serve", config_dir=config_dir, extra_env={"ENVIRONMENT": "prod"})
    assert_one_line_error(
        result, "Invalid ENVIRONMENT value: 'prod'. Must be one of: development, production"
    )


def test_database_url_pointing_at_nothing_exits_2(config_dir):
    url = "postgresql://mcp_user:topsecret@127.0.0.1:9/cognitive_memory_dev"
    result = run_cli("serve", config_dir=config_dir, extra_env={"DATABASE_URL": url})
    assert_one_line_error(result, "Cannot connect to the database at postgresql://mcp_user:***@")
    assert "topsecret" not in result.stderr


def test_debug_shows_the_traceback(config_dir):
    (config_dir / "config.yaml").write_text("- a\n")
    result = run_cli("serve", config_dir=config_dir, extra_env={"COGMEM_DEBUG": "1"})
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_db_migrate_twice_reports_nothing_the_second_time(config_dir):
    first = run_cli("db", "migrate", config_dir=config_dir)
    second = run_cli("db", "migrate", config_dir=config_dir)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "schema is current, nothing to apply" in second.stdout


def test_insert_cost_log_one_liner_works_against_the_configured_database(config_dir):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mcp_server.db.cost_logger import insert_cost_log; "
            "insert_cost_log('test_api', 1, 1000, 0.001); print('OK')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "COGMEM_CONFIG_DIR": str(config_dir)},
    )
    assert result.stdout.strip() == "OK", result.stderr


def test_serve_answers_the_official_stdio_client_and_exits_when_stdin_closes(config_dir):
    """A fresh checkout: no env files, no DATABASE_URL, the embedded cluster."""
    assert not list(config_dir.glob(".env.*[!e]"))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server"],
        env={**os.environ, "COGMEM_CONFIG_DIR": str(config_dir)},
        cwd=str(REPO),
    )

    async def session():
        async with Client(params, mode="legacy") as client:
            tools = await client.list_tools()
            ping = await client.call_tool("ping", {})
            return [t.name for t in tools.tools], ping.structured_content

    names, ping = anyio.run(session)
    assert "ping" in names
    assert ping["database_reachable"] is True
    assert ping["environment"] == "development"


def test_stdio_server_exits_cleanly_on_eof(config_dir):
    process = subprocess.run(
        [sys.executable, "-m", "mcp_server"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "COGMEM_CONFIG_DIR": str(config_dir)},
    )
    assert process.returncode == 0, process.stderr
    assert "Development environment loaded" in process.stderr
    assert process.stdout == ""
