"""The runbook's commands, read from docs/operations.md: `sh host` blocks run as root on the
appliance host, `sh control` blocks on the operator's machine."""

from __future__ import annotations

import re
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
OFFSITE_RUNBOOK = RUNBOOK.with_name("offsite-recovery.md")
_BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(path: Path = RUNBOOK) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, in document order."""
    return [(m["info"].strip(), m["body"]) for m in _BLOCK.finditer(path.read_text())]


def commands(kind: str, path: Path = RUNBOOK) -> list[str]:
    """Every command line of the `sh <kind>` blocks."""
    return [line for info, body in blocks(path) if info == f"sh {kind}"
            for line in body.splitlines() if line.strip()]  # fmt: skip
