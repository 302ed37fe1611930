"""`python -m mcp_server.db.keeper PGDATA`: stop the embedded cluster when its users are gone.

Started (once per cluster) by the first process that uses the cluster, in a session of its
own. Twice a second it drops the users that are gone; when none is left it stops the
cluster and exits. A server that ends cleanly stops the cluster itself; this keeper is for
the ones that cannot: killed with SIGKILL, or crashed.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from mcp_server.db import embedded

INTERVAL_S = 0.5


def watch(pgdata: Path) -> None:
    while not embedded.stop_when_unused(pgdata):
        time.sleep(INTERVAL_S)


def main(argv: list[str]) -> int:
    # Hang-ups and interrupts belong to the clients' terminals, not to this watcher.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
