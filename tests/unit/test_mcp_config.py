"""The lines a user pastes into Claude Code are valid JSON and never carry the token."""

import json
import re

from mcp_server.mcp_config import render


def documents(text: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^\{\n.*?\n\}$", text, flags=re.S | re.M)]


def test_three_ways_to_connect_each_with_a_claude_line_and_a_json_entry():
    text = render(name="mem", url="http://127.0.0.1:8765/mcp", ssh_host="root@host",
                  prefix="/opt/cognitive-memory", environment="development")  # fmt: skip
    assert text.count("claude mcp add") == 3
    local, http, remote = (d["mcpServers"]["mem"] for d in documents(text))
    assert local["env"] == {"ENVIRONMENT": "development"}
    assert http == {"type": "http", "url": "http://127.0.0.1:8765/mcp",
                    "headers": {"Authorization": "Bearer ${COGMEM_TOKEN}"}}  # fmt: skip
    assert remote["command"] == "ssh"
    assert remote["args"][:4] == ["-T", "root@host", "runuser", "-u"]
    assert "/opt/cognitive-memory/venv/bin/cognitive-memory" in remote["args"]


def test_a_non_root_ssh_user_switches_with_sudo():
    text = render(name="mem", url="u", ssh_host="ana@host", prefix="/p", environment="production")
    remote = documents(text)[-1]["mcpServers"]["mem"]
    assert remote["args"][2:4] == ["sudo", "-u"]
