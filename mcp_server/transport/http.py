"""Streamable HTTP for the systemd service: bearer token, Host/Origin checks, sd_notify."""

from __future__ import annotations

import contextlib
import hmac
import logging
import signal

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.monitoring import systemd

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # We own SIGTERM/SIGINT (see _stop_on_signal) so the exit is clean, not a re-raise.
        yield


class BearerTokenAuth:
    """Refuses every HTTP request without `Authorization: Bearer <token>` (constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            response = JSONResponse(
                {"error": "unauthorized", "detail": "send Authorization: Bearer <MCP_HTTP_TOKEN>"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="cognitive-memory"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = dict(scope["headers"]).get(b"authorization", b"")
        # The scheme is case-insensitive (RFC 9110 11.1): "bearer" and "BEARER" are fine.
        scheme, _, credentials = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(
            credentials.strip(), self.expected
        )


def security_settings(host: str, port: int, extra_hosts: list[str]) -> TransportSecuritySettings:
    """Only loopback names (plus what the user allows) may appear in Host and Origin."""
    names = ["127.0.0.1", "localhost", "[::1]", host, *extra_hosts]
    hosts = sorted({f"{name}:{port}" for name in names} | set(names))
    origins = sorted({f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts})
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def build_app(server: MCPServer, token: str, host: str, port: int, extra_hosts: list[str]):
    app = server.streamable_http_app(
        transport_security=security_settings(host, port, extra_hosts), host=host
    )
    return BearerTokenAuth(app, token)


async def serve_http(
    server: MCPServer,
    *,
    token: str,
    host: str,
    port: int,
    healthy: systemd.HealthCheck,
    extra_hosts: list[str] = (),
    drain_timeout_s: float = 20,
) -> None:
    """Serve until SIGTERM/SIGINT; then finish in-flight calls (bounded) and close the pool."""
    config = uvicorn.Config(
        build_app(server, token, host, port, list(extra_hosts)),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=drain_timeout_s,
    )
    http = _Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_stop_on_signal, http)
        tasks.start_soon(_announce_when_started, http, healthy)
        await http.serve()
        tasks.cancel_scope.cancel()


async def _announce_when_started(http: uvicorn.Server, healthy: systemd.HealthCheck) -> None:
    while not http.started:
        if http.should_exit:
            return
        await anyio.sleep(0.05)
    systemd.notify("READY=1\nSTATUS=serving Streamable HTTP")
    log.info("serving Streamable HTTP", extra={"host": http.config.host, "port": http.config.port})
    if interval := systemd.watchdog_interval():
        await systemd.run_watchdog(healthy, interval)


async def _stop_on_signal(http: uvicorn.Server) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for received in signals:
            systemd.notify("STOPPING=1")
            log.info("stopping: draining in-flight requests", extra={"signal": received.name})
            http.should_exit = True
            return
