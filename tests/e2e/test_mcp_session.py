"""A Claude Code-like session with the official MCP client, over stdio and over HTTP.

Over stdio the client starts `python -m mcp_server`; over HTTP it talks to
`cognitive-memory serve --transport http` with the bearer token, as the systemd service runs.
Runs against the session's embedded cluster with a copy of the repository's config (the
development environment, hashing embedder) and a database of its own; no env file needed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from mcp import Client, StdioServerParameters

from mcp_server.client import connect
from mcp_server.config import SECRET_VARIABLES
from tests.conftest import REPO
from tests.support.commands import cognitive_memory
from tests.support.memory_schema import TOOLS, row_counts
from tests.support.net import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


@pytest.fixture
def database_name() -> str:
    return f"e2e_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server_env(config_dir, embedded_data_dir, database_name) -> dict[str, str]:
    """The environment a user's MCP client would give the server, on a database of its own."""
    path = config_dir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["development"]["database"]["name"] = database_name
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    env |= {
        "ENVIRONMENT": "development",
        "COGMEM_DATA_DIR": str(embedded_data_dir),
        "COGMEM_CONFIG_DIR": str(config_dir),
        "COGMEM_LOG_LEVEL": "WARNING",
    }
    return env


@pytest.fixture
def database_url(server_env, database_name, cluster_admin_url) -> str:
    return cluster_admin_url.replace("/postgres?", f"/{database_name}?")


TOKEN = "e2e-token-0123456789abcdef"


@asynccontextmanager
async def stdio_session(env: dict[str, str]):
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=env, cwd=str(REPO)
    )
    async with Client(parameters, cache=None, read_timeout_seconds=60) as client:
        yield client


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@asynccontextmanager
async def http_session(env: dict[str, str]):
    config_dir = Path(env["COGMEM_CONFIG_DIR"])
    (config_dir / ".env.development").write_text(f"MCP_HTTP_TOKEN={TOKEN}\n")
    port = free_port()
    command = cognitive_memory("serve", "--transport", "http", "--port", str(port))
    process = subprocess.Popen(command, env=env, cwd=REPO)
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/mcp"
        async with connect(url=url, token=TOKEN, environment="development") as client:
            yield client
    finally:
        process.terminate()
        assert process.wait(30) == 0


@pytest.fixture(params=["stdio", "http"])
def session(request):
    return {"stdio": stdio_session, "http": http_session}[request.param]


async def call(client: Client, tool: str, **arguments) -> dict:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def read(client: Client, uri: str) -> dict:
    [content] = (await client.read_resource(uri)).contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def test_a_session_stores_compresses_searches_and_evicts(
    session, server_env, record_property
):
    started = time.perf_counter()
    async with session(server_env) as client:
        assert (await call(client, "ping"))["database_reachable"]
        cold_start_s = time.perf_counter() - started
        record_property("cold_start_s", round(cold_start_s, 2))
        print(f"\ncold start (to first tool answer): {cold_start_s:.2f} s")

        tools = (await client.list_tools()).tools
        assert {tool.name for tool in tools} == TOOLS
        templates = (await client.list_resource_templates()).resource_templates
        assert len(templates) == 5
        listed = (await client.list_resources()).resources
        assert sorted(str(r.uri) for r in listed) == sorted(
            t.uri_template.partition("{")[0] for t in templates
        )

        turns = [
            await call(
                client, "store_raw_dialogue", session_id="e2e", speaker=speaker, content=text
            )
            for speaker, text in [
                ("user", "Our backups run at 02:00 with pg_dump into /var/backups"),
                ("assistant", "I will remember the backup schedule."),
                ("user", "The staging host runs Debian trixie on two cores"),
            ]
        ]
        backup = await call(
            client,
            "compress_to_l2_insight",
            content="Nightly pg_dump backups start at 02:00 into /var/backups",
            source_ids=[turns[0]["id"], turns[1]["id"]],
        )
        host = await call(
            client,
            "compress_to_l2_insight",
            content="The staging host is Debian trixie with two cores",
            source_ids=[turns[2]["id"]],
        )
        found = await call(client, "hybrid_search", query_text="pg_dump backups", top_k=2)
        first = found["results"][0]
        assert (first["id"], first["keyword_rank"]) == (backup["id"], 1)
        assert found["embedding_provider"] == "hashing"
        found = await call(client, "hybrid_search", query_text="trixie staging", top_k=2)
        assert found["results"][0]["id"] == host["id"]

        capacity = (await read(client, "memory://working-memory"))["capacity"]
        first_item = await call(client, "update_working_memory", content="item 0", importance=0.3)
        for i in range(1, capacity):
            await call(client, "update_working_memory", content=f"item {i}", importance=0.6)
        overflow = await call(client, "update_working_memory", content="one more", importance=0.5)
        assert overflow["evicted_id"] == first_item["id"]
        stale = await read(client, "memory://stale-memory")
        assert [item["original_id"] for item in stale["items"]] == [first_item["id"]]

        day = time.strftime("%Y-%m-%d", time.gmtime())
        raw = await read(client, f"memory://l0-raw?session_id=e2e&date_range={day}:{day}")
        assert len(raw["turns"]) == 3


BAD_CALLS = [
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": 42}),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": ""}),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "x" * 1_000_000}),
    ("store_raw_dialogue", {"session_id": "s", "speaker": "u", "content": "nul\x00byte"}),
    ("compress_to_l2_insight", {"content": "insight", "source_ids": [987654321]}),
    ("hybrid_search", {"query_text": "x", "weights": {"semantic": 0.9, "keyword": 0.3}}),
    ("hybrid_search", {"query_text": "x", "top_k": 1000}),
    ("update_working_memory", {"content": "x", "importance": -0.1}),
    ("store_episode", {"query": "q", "reward": 3, "reflection": "r"}),
    ("store_dual_judge_scores", {"query_id": "q", "query": "q", "docs": [{"id": 1}]}),
    ("get_golden_test_results", {"days": 0}),
    ("evaluate_answer", {"query": "q", "answer": ""}),
]


# A lone surrogate ("\ud800") cannot cross stdio with the official client: it refuses to
# encode it. tests/integration/test_memory_server.py covers it in memory.
async def test_bad_input_is_refused_and_nothing_is_written(session, server_env, database_url):
    async with session(server_env) as client:
        await call(client, "ping")
        before = row_counts(database_url)
        for tool, arguments in BAD_CALLS:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            text = result.content[0].text
            # A readable refusal, not the SDK's crash message or a validation dump.
            assert not text.startswith("Error executing tool") and "\n" not in text, text
        assert row_counts(database_url) == before
        assert (await call(client, "ping"))["status"] == "ok"
