"""sd_notify over the stdlib socket: READY, WATCHDOG, STOPPING. A no-op outside systemd."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable

import anyio

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]


def notify(message: str) -> bool:
    """Send one sd_notify datagram; False when not running under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds, when systemd asked this process for pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


async def run_watchdog(healthy: HealthCheck, interval: float) -> None:
    """Ping systemd while the event loop runs and `healthy()` says yes.

    A stuck loop sends nothing, and so does a lost database: either way systemd restarts us
    after WatchdogSec, which is the point.
    """
    while True:
        try:
            with anyio.fail_after(interval):
                ok = await healthy()
        except Exception as error:  # a failed check is just "not healthy"
            log.warning(
                "health check failed; withholding watchdog ping", extra={"error": str(error)}
            )
            ok = False
        if ok:
            notify("WATCHDOG=1")
        await anyio.sleep(interval)
