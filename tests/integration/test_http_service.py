"""The service face: Streamable HTTP with a bearer token, Host/Origin checks, sd_notify."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import anyio
import httpx
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_server.client import call_tool, connect
from tests.conftest import REPO
from tests.support.commands import cognitive_memory
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(120)
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def notify_socket(tmp_path):
    """A real AF_UNIX datagram socket standing where systemd's would be."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    yield sock, path
    sock.close()


def receive_until(sock, wanted: str) -> list[str]:
    messages = []
    while True:
        message = sock.recv(4096).decode()
        messages.append(message)
        if wanted in message:
            return messages


@pytest.fixture
def http_server(config_dir, notify_socket, tmp_path):
    sock, path = notify_socket
    (config_dir / ".env.development").write_text(f"MCP_HTTP_TOKEN={TOKEN}\n")
    port = free_port()
    env = {
        **os.environ,
        "COGMEM_CONFIG_DIR": str(config_dir),
        "NOTIFY_SOCKET": str(path),
        "WATCHDOG_USEC": "1000000",  # ping every 0.5 s
    }
    process = subprocess.Popen(
        cognitive_memory("serve", "--transport", "http", "--port", str(port)),
        env=env,
        cwd=REPO,
        stderr=(tmp_path / "server.log").open("w"),  # a pipe nobody reads could block it
    )
    ready = receive_until(sock, "READY=1")
    yield {
        "url": f"http://127.0.0.1:{port}/mcp",
        "process": process,
        "notify": sock,
        "ready": ready,
        "port": port,
    }
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_ready_then_watchdog_pings_then_stopping_on_sigterm(http_server):
    sock = http_server["notify"]
    assert any("READY=1" in m for m in http_server["ready"])
    receive_until(sock, "WATCHDOG=1")
    http_server["process"].send_signal(signal.SIGTERM)
    receive_until(sock, "STOPPING=1")
    assert http_server["process"].wait(20) == 0


def test_ping_over_http_with_the_token(http_server):
    async def ping():
        async with connect(url=http_server["url"], token=TOKEN, environment="development") as c:
            return await call_tool(c, "ping", {})

    result = anyio.run(ping)
    assert result["status"] == "ok"
    assert result["environment"] == "development"


def l0_count(config_dir) -> int:
    from mcp_server.config import load_settings
    from mcp_server.db.connection import database_url

    with psycopg.connect(database_url(load_settings("development", config_dir))) as conn:
        return conn.execute("SELECT count(*) FROM l0_raw").fetchone()[0]


STORE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "store_raw_dialogue",
        "arguments": {"session_id": "s", "speaker": "user", "content": "hi"},
    },
}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ({"Authorization": f"bearer {TOKEN}x"}, 401),
        ({"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}, 403),
        ({"Authorization": f"Bearer {TOKEN}", "Host": "evil.example"}, 421),
    ],
)
def test_refused_requests_write_nothing(http_server, config_dir, headers, status):
    before = l0_count(config_dir)
    response = httpx.post(
        http_server["url"],
        json=STORE,
        timeout=10,
        headers={"Accept": "application/json, text/event-stream", **headers},
    )
    assert response.status_code == status
    time.sleep(0.2)
    assert l0_count(config_dir) == before


def test_missing_token_refuses_to_start_http(config_dir):
    result = subprocess.run(
        cognitive_memory("serve", "--transport", "http", "--port", str(free_port())),
        env={**os.environ, "COGMEM_CONFIG_DIR": str(config_dir)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MCP_HTTP_TOKEN is missing" in result.stderr


def test_the_bearer_scheme_is_case_insensitive(http_server):
    """RFC 9110: "bearer" and "BEARER" name the same scheme; through the official client."""

    async def ping(scheme: str) -> dict:
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(http_server["url"], http_client=http)) as client,
        ):
            return await call_tool(client, "ping", {})

    for scheme in ("bearer", "BEARER"):
        assert anyio.run(ping, scheme)["status"] == "ok"
