"""The embedded cluster stops when its last stdio server is gone, however each one went.

Each server is spawned as a client spawns it and initialized over stdio (one MCP
`initialize` exchange), then ended the way clients end servers: SIGTERM, SIGINT, SIGHUP,
or SIGKILL. The tests share a cluster of their own (not the session's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mcp_server.config import SECRET_VARIABLES
from tests.support.commands import cognitive_memory

pytestmark = pytest.mark.timeout(180)

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "lifecycle-test", "version": "1"}}}  # fmt: skip
STOP_WITHIN_S = 10


@pytest.fixture(scope="module")
def env(tmp_path_factory, user_config_home) -> dict[str, str]:
    """A cluster of this module's own (every test leaves it stopped), the tests' config home."""
    data = tmp_path_factory.mktemp("lifecycle") / "data"
    unset = {*SECRET_VARIABLES, "ENVIRONMENT", "COGMEM_CONFIG_DIR", "COGMEM_DEBUG"}
    inherited = {name: value for name, value in os.environ.items() if name not in unset}
    return inherited | {"COGMEM_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(user_config_home),
                        "COGMEM_LOG_LEVEL": "WARNING"}  # fmt: skip


def pgdata(env: dict[str, str]) -> Path:
    return Path(env["COGMEM_DATA_DIR"]) / "pgdata"


def spawn(env: dict[str, str], count: int) -> list[subprocess.Popen]:
    """Stdio servers started at once, each connected (it answered `initialize`)."""
    command, pipe = [sys.executable, "-m", "mcp_server"], subprocess.PIPE
    servers = [
        subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=pipe, env=env)
        for _ in range(count)
    ]
    for server in servers:
        server.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        server.stdin.flush()
    for server in servers:
        answer = server.stdout.readline()
        assert answer, server.stderr.read().decode()
        assert json.loads(answer)["result"]["serverInfo"]["name"]
    return servers


def running_postgres(env: dict[str, str], *, keeper: bool = True) -> list[psutil.Process]:
    """Processes of this cluster (and its keeper) that still run; a zombie is gone."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if str(pgdata(env)) not in cmdline or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if keeper or "mcp_server.db.keeper" not in cmdline:
            found.append(process)
    return found


def wait_until_gone(env: dict[str, str], *, keeper: bool = True) -> float:
    started = time.monotonic()
    while left := running_postgres(env, keeper=keeper):
        assert time.monotonic() - started < STOP_WITHIN_S, left
        time.sleep(0.1)
    return time.monotonic() - started


def end(server: subprocess.Popen, number: int) -> None:
    server.send_signal(number)
    code = server.wait(timeout=15)  # reaped, so it is no zombie
    assert code == (-number if number == signal.SIGKILL else 128 + number)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cognitive_memory(*args), capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip


def test_the_cluster_outlives_each_ended_server_and_stops_with_the_last(env):
    servers = spawn(env, 4)  # at once, as a client reopening its sessions does
    postmaster = int((pgdata(env) / "postmaster.pid").read_text().split()[0])
    for server, number in zip(
        servers[:3], (signal.SIGTERM, signal.SIGINT, signal.SIGKILL), strict=True
    ):
        end(server, number)
        assert psutil.Process(postmaster).status() != psutil.STATUS_ZOMBIE
    end(servers[-1], signal.SIGHUP)
    assert not running_postgres(env, keeper=False)  # stopped on the last one's way out
    wait_until_gone(env)
    assert json.loads((pgdata(env) / ".handle_pids.json").read_text()) == []


def test_a_kill_9_of_the_last_server_stops_the_cluster_too_and_status_tells(env):
    stopped = cli(env, "db", "status")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not running_postgres(env)  # a status starts nothing

    [server] = spawn(env, 1)
    status = cli(env, "db", "status")
    assert "running (pid " in status.stdout and f"used by: {server.pid}" in status.stdout
    assert "applied" in status.stdout
    refused = cli(env, "db", "stop")
    assert refused.returncode == 1
    assert f"still used by pid {server.pid}" in refused.stderr
    end(server, signal.SIGKILL)
    wait_until_gone(env)  # the keeper saw the last user go
    assert "stopped" in cli(env, "db", "status").stdout


def test_db_stop_force_stops_it_under_a_living_server(env):
    [server] = spawn(env, 1)
    try:
        assert cli(env, "db", "stop", "--force").returncode == 0
        wait_until_gone(env, keeper=False)  # the keeper waits for the server to go
    finally:
        end(server, signal.SIGTERM)
    wait_until_gone(env)
