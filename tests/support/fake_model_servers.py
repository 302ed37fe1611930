"""A real HTTP server on 127.0.0.1 that speaks the OpenAI and Anthropic wire formats.

Tests point the real SDK clients (or the whole memory server) at it instead of patching
anything. It serves:

- POST /v1/embeddings           (OpenAI) deterministic lexical vectors from HashingEmbedder,
                                 so similar texts get similar vectors; float or base64;
- POST /v1/chat/completions     (OpenAI) a scripted or echoing reply;
- POST /v1/messages             (Anthropic) the same, in Messages format;

each with a real-looking `usage` (tokens = words, at least 1 per text). Usage:

    with fake_model_server() as server:
        server.plan(429, headers={"retry-after": "0"})   # the next request gets a 429
        server.plan(delay_s=2)                           # the one after answers late
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        assert server.requests[0].headers["authorization"] == "Bearer sk-test"

For judges and evaluators: `server.latency_s = (0.3, 0.8)` delays every answer by a random
time in that range, as a real API does; `server.reply = judge_by_keyword(...)` answers in
the JSON a judge prompt asks for; `plan(429, times=20)` is a rate-limit storm and
`plan(text="not json")` a malformed answer. `prompt_of(body)` is the user text of a request
in either format.

`fake_openai_server` and `fake_anthropic_server` are the same server (Anthropic SDK clients
take `server.anthropic_base_url`, as that SDK adds /v1 itself).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mcp_server.providers.hashing import HashingEmbedder

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw text when it was not JSON

    @property
    def api_key(self) -> str | None:
        """The key as sent: OpenAI's bearer token or Anthropic's x-api-key."""
        bearer = self.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return bearer[7:]
        return self.headers.get("x-api-key")


@dataclass
class Plan:
    """One scripted response: an error status, a late answer, a wrong dimension, a text."""

    status: int = 200
    body: Any = None  # replaces the whole JSON body
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    dimension: int | None = None  # embeddings of this size, whatever was asked
    text: str | None = None  # the chat reply
    path: str | None = None  # only requests to this path consume the plan


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _message_text(content: Any) -> str:
    """Message content as text: a string, or a list of text blocks (both SDKs allow it)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class FakeModelServer:
    def __init__(self, dimension: int = 1536, expected_key: str | None = None) -> None:
        self.default_dimension = dimension
        self.expected_key = expected_key  # when set, other keys get a 401
        self.requests: list[RecordedRequest] = []
        # A reply for chat requests: a fixed text or a function of the request body.
        self.reply: str | Callable[[dict], str] = lambda body: "fake reply"
        self._plans: deque[Plan] = deque()
        # Every answer waits a random time in this range (seconds) unless its plan says.
        self.latency_s: tuple[float, float] = (0.0, 0.0)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval makes stop() quick; tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- the API tests use ----------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """For OpenAI-compatible clients (they append /embeddings, /chat/completions)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For the Anthropic SDK (it appends /v1/messages)."""
        return self.url

    def plan(
        self,
        status: int = 200,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        dimension: int | None = None,
        text: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Queue `times` scripted responses; unplanned requests get a normal answer."""
        for _ in range(times):
            self._plans.append(
                Plan(status, body, dict(headers or {}), delay_s, dimension, text, path)
            )

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._plans.clear()

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a planned delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- what the handler calls -----------------------------------------------------------

    def _next_plan(self, path: str) -> Plan:
        with self._lock:
            for plan in self._plans:
                if plan.path in (None, path):
                    self._plans.remove(plan)
                    return plan
        return Plan()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any, float]:
        if self.expected_key is not None and request.api_key != self.expected_key:
            return 401, {}, _error(request.path, 401, "invalid api key"), 0.0
        plan = self._next_plan(request.path)
        if not plan.delay_s and self.latency_s[1] > 0:
            plan.delay_s = random.uniform(*self.latency_s)
        if plan.status != 200:
            body = plan.body if plan.body is not None else _error(request.path, plan.status)
            return plan.status, plan.headers, body, plan.delay_s
        if plan.body is not None:
            return 200, plan.headers, plan.body, plan.delay_s
        if not isinstance(request.body, dict):
            return 400, {}, _error(request.path, 400, "body must be a JSON object"), 0.0
        build = {EMBEDDINGS: self._embeddings, CHAT: self._chat, MESSAGES: self._messages}.get(
            request.path
        )
        if build is None:
            return 404, {}, _error(request.path, 404, f"no route {request.path}"), 0.0
        return 200, plan.headers, build(request.body, plan), plan.delay_s

    def _embeddings(self, body: dict, plan: Plan) -> dict:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dimension = plan.dimension or body.get("dimensions") or self.default_dimension
        vectors = HashingEmbedder("fake", dimension).embed_sync([str(t) for t in texts])
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _b64(vector) if as_base64 else vector,
            }
            for i, vector in enumerate(vectors)
        ]
        tokens = sum(_tokens(str(t)) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _reply_text(self, body: dict, plan: Plan) -> str:
        if plan.text is not None:
            return plan.text
        return self.reply(body) if callable(self.reply) else self.reply

    def _chat(self, body: dict, plan: Plan) -> dict:
        prompt = " ".join(_message_text(m.get("content")) for m in body.get("messages", []))
        text = self._reply_text(body, plan)
        usage = {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }

    def _messages(self, body: dict, plan: Plan) -> dict:
        parts = [_message_text(body.get("system"))]
        parts += [_message_text(m.get("content")) for m in body.get("messages", [])]
        text = self._reply_text(body, plan)
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(" ".join(parts)), "output_tokens": _tokens(text)},
        }


def prompt_of(body: dict) -> str:
    """The last user message's text of a chat or messages request."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _message_text(users[-1].get("content")) if users else ""


def judge_by_keyword(keyword: str, *, score: float = 0.9, miss: float = 0.1) -> Callable:
    """A judge: `score` when the document (after "document:") mentions `keyword`, else `miss`."""

    def reply(body: dict) -> str:
        document = prompt_of(body).split("document:", 1)[-1].lower()
        value = score if keyword.lower() in document else miss
        return json.dumps({"score": value, "reason": "keyword match" if value == score else "no"})

    return reply


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _error(path: str, status: int, message: str | None = None) -> dict:
    message = message or f"planned failure {status}"
    if path == MESSAGES:
        kind = {429: "rate_limit_error", 401: "authentication_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": "fake_error", "code": status}}


def _handler_for(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            path = self.path.split("?", 1)[0]
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = RecordedRequest("POST", path, headers, body)
            # Recorded before any delay, so a request the client gave up on still counts.
            server._record(request)
            status, extra_headers, payload, delay_s = server._respond(request)
            if delay_s and server._stopping.wait(delay_s):
                return
            self._send(status, extra_headers, payload)

        def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left: that is what the plan was for

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; `server.requests` is the record

    return Handler


@contextmanager
def fake_model_server(
    dimension: int = 1536, expected_key: str | None = None
) -> Iterator[FakeModelServer]:
    """Start the server on a free port of 127.0.0.1 in a background thread; stop it after."""
    server = FakeModelServer(dimension, expected_key).start()
    try:
        yield server
    finally:
        server.stop()


fake_openai_server = fake_model_server
fake_anthropic_server = fake_model_server
