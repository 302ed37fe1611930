"""sd_notify over a real datagram socket: pings only while healthy, nothing outside systemd."""

from __future__ import annotations

import socket

import anyio
import pytest

from mcp_server.monitoring import systemd


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def drain(sock) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_watchdog_pings_only_while_the_health_check_passes(notify_socket):
    state = {"healthy": True}

    async def healthy() -> bool:
        if state["healthy"] is None:
            raise ConnectionError("pool exhausted")
        return state["healthy"]

    async def scenario():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(systemd.run_watchdog, healthy, 0.05)
            await anyio.sleep(0.3)
            pinged_while_healthy = drain(notify_socket)
            state["healthy"] = False
            await anyio.sleep(0.08)
            drain(notify_socket)
            await anyio.sleep(0.3)
            silent_while_unhealthy = drain(notify_socket)
            state["healthy"] = None
            await anyio.sleep(0.3)
            silent_while_failing = drain(notify_socket)
            tasks.cancel_scope.cancel()
        return pinged_while_healthy, silent_while_unhealthy, silent_while_failing

    healthy_pings, unhealthy, failing = anyio.run(scenario)
    assert healthy_pings.count("WATCHDOG=1") >= 3
    assert unhealthy == []
    assert failing == []


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval() == 30
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert systemd.watchdog_interval() is None


def test_notify_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
