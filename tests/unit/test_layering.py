"""Dependencies point one way: the domain, providers and storage never import the face."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mcp_server"
LOWER = ("db", "memory", "providers", "evaluation", "monitoring", "budget", "ops")
FACE = ("mcp_server.cli", "mcp_server.tools", "mcp_server.server", "mcp_server.resources")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def lower_files() -> list[Path]:
    return sorted(p for folder in LOWER for p in (PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", lower_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_do_not_import_the_face(path):
    face = {m for m in imported_modules(path) if m in FACE or m.startswith(FACE)}
    assert not face, f"{path.relative_to(PACKAGE)} imports the face: {sorted(face)}"


def test_the_check_sees_a_lazy_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from mcp_server.cli import user_errors\n")
    assert "mcp_server.cli" in imported_modules(sample)
