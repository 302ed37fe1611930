"""Raw JSON-RPC over stdio: what the official client cannot even send still gets an answer.

The official client refuses to encode a lone surrogate, so this test writes the bytes a
broken or foreign client would write, line by line, and reads each answer with a bound.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.timeout(120)

ANSWER_WITHIN_S = 30


class RawClient:
    def __init__(self) -> None:
        command, pipe = [sys.executable, "-m", "mcp_server"], subprocess.PIPE
        self.process = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=subprocess.DEVNULL)
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, text: str) -> None:
        self.process.stdin.write(text.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def answer(self) -> dict:
        return json.loads(self.lines.get(timeout=ANSWER_WITHIN_S))

    def request(self, request_id: int, method: str, params: dict | None = None) -> dict:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        self.send(json.dumps(message | ({"params": params} if params else {})))
        return self.answer()


@pytest.fixture
def client():
    raw = RawClient()
    initialized = raw.request(1, "initialize", {"protocolVersion": "2025-06-18",
        "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}})  # fmt: skip
    assert initialized["result"]["serverInfo"]["name"] == "cognitive-memory"
    raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    yield raw
    raw.process.stdin.close()
    assert raw.process.wait(timeout=30) == 0


def test_unreadable_lines_get_json_rpc_errors_and_the_server_goes_on(client):
    # json.dumps writes the lone surrogate as the escape \ud800: valid JSON, invalid Unicode.
    call = {"name": "ping", "arguments": {"x": "a\ud800b"}}
    client.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}))
    surrogate = client.answer()
    assert surrogate["id"] == 2
    assert surrogate["error"]["code"] == -32602
    assert "lone surrogate" in surrogate["error"]["message"]

    client.send("this is not JSON")
    assert client.answer() == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32700, "message": "Parse error: the line is not valid JSON"}}  # fmt: skip

    # A notification is never answered: the next answer belongs to the next request.
    client.send(json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"y": "\udc00"}}))
    ping = client.request(3, "tools/call", {"name": "ping", "arguments": {}})
    assert ping["id"] == 3 and ping["result"]["structuredContent"]["status"] == "ok"
