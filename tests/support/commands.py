"""How tests start the command line: the same interpreter, no reliance on PATH."""

import sys


def cognitive_memory(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcp_server.cli", *args]
