"""Signals that end a stdio server end it as cleanly as a closed stdin does.

Clients stop a stdio server with SIGTERM (or SIGINT, or SIGHUP when their terminal goes).
By default SIGTERM and SIGHUP end Python without running its exit handlers, so the
embedded cluster never learns that this user is gone. Raising SystemExit instead is not
enough: the shutdown would wait for the thread that reads stdin, which nothing can
interrupt. So the handler runs the exit handlers itself (the embedded cluster forgets
this process, and stops when it was the last user) and then ends the process.
"""

from __future__ import annotations

import atexit
import os
import signal

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _exit(signum: int, _frame) -> None:
    # A second signal of the same kind ends the process at once, should a handler hang.
    signal.signal(signum, signal.SIG_DFL)
    try:
        # What the interpreter calls at a normal exit (private, but there since Python 2).
        atexit._run_exitfuncs()
    finally:
        os._exit(128 + signum)


def exit_cleanly_on_signals() -> None:
    for number in SIGNALS:
        signal.signal(number, _exit)
