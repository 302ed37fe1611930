"""`cognitive-memory call` as a person reads it: one line per failure, and the right exit code."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.commands import cognitive_memory
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(120)


def call(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cognitive_memory("call", *args), capture_output=True, text=True,
                          timeout=90)  # fmt: skip


def test_a_refused_call_is_one_line_and_exit_1():
    arguments = json.dumps({"query_text": "x", "top_k": 0})
    result = call("hybrid_search", "--json-args", arguments)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: hybrid_search: top_k must be between 1 and 100; got 0"
    assert result.stdout == ""


def test_an_unknown_tool_is_one_line_and_exit_1():
    result = call("recall_everything")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: recall_everything: Unknown tool: recall_everything"


def test_an_unreachable_server_is_one_line_and_exit_2():
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = call("ping", "--url", url)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach {url}: ")
