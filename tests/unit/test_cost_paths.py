"""Every path that calls a model logs its cost: the list of such paths is closed.

A model client is built only by providers/factory.py (make_embedder, make_chat), and the
evaluation loop builds its chat clients only through evaluation/clients.chat, which names the
operation. This test finds every call of those builders in mcp_server/ and checks that each
passes a cost sink (never None) and is one of the paths below, each proven to write its
api_cost_log rows by the test named next to it. A new path fails here until it is added,
with its proof.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mcp_server"
BUILDERS = {"make_embedder": 1, "make_chat": 2, "chat": 2}  # position of the cost sink
SDK_CLIENTS = {"AsyncOpenAI", "OpenAI", "AsyncAnthropic", "Anthropic"}

# (file, enclosing function, builder) -> the test that shows its cost rows.
PATHS = {
    ("server.py", "lifespan", "make_embedder"):
        "tests/integration/test_providers.py (tool embeddings -> openai_embeddings rows)",
    ("cli.py", "_reembed", "make_embedder"):
        "tests/integration/test_cost_rows.py::test_reembed_logs_every_batch",
    ("cli_ops.py", "_import", "make_embedder"):
        "tests/integration/test_cost_rows.py::test_import_logs_its_embeddings",
    ("monitoring/drift_check.py", "run", "make_embedder"):
        "tests/integration/test_cost_rows.py::test_the_drift_check_logs_its_query_embeddings",
    ("evaluation/clients.py", "chat", "make_chat"):
        "tests/integration/test_evaluation_tools.py (every operation below)",
    ("evaluation/service.py", "evaluate_answer", "chat"):
        "test_evaluation_tools: evaluation + reflexion rows",
    ("evaluation/service.py", "dual_judge", "chat"):
        "test_evaluation_tools: judge + spot_check rows, none for refused calls",
}  # fmt: skip


def _calls(path: Path) -> list[tuple[str, str | None, ast.Call]]:
    """(innermost enclosing function, called name, call) for every call in the file."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            found.append((function, name, node))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return found


def model_paths() -> dict[tuple[str, str, str], list[ast.Call]]:
    found: dict[tuple[str, str, str], list[ast.Call]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        if where == "providers/factory.py":
            continue  # the builders themselves
        for function, name, node in _calls(path):
            if name == "chat" and not (
                isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") ==
                "clients"
            ):  # fmt: skip
                continue
            if name in BUILDERS:
                found.setdefault((where, function, name), []).append(node)
    return found


def test_every_model_path_is_listed_with_its_cost_proof():
    assert set(model_paths()) == set(PATHS)


def test_every_model_path_passes_a_cost_sink():
    for key, calls in model_paths().items():
        for call in calls:
            position = BUILDERS[key[2]]
            sink = call.args[position] if len(call.args) > position else None
            sink = sink or next((k.value for k in call.keywords if k.arg == "cost_sink"), None)
            assert sink is not None, f"{key}: no cost sink"
            assert not (isinstance(sink, ast.Constant) and sink.value is None), f"{key}: None"


def test_the_evaluation_loop_names_its_operations():
    from mcp_server.evaluation.clients import OPERATIONS

    assert OPERATIONS == ("evaluation", "reflexion", "judge", "spot_check")
    for (where, _, name), calls in model_paths().items():
        if name == "chat":
            for call in calls:
                operation = call.args[3]
                assert isinstance(operation, ast.Attribute | ast.Name), where


def test_sdk_clients_are_built_only_by_the_providers():
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        for _, name, _ in _calls(path):
            if name in SDK_CLIENTS:
                assert where.startswith("providers/"), f"{where} builds an SDK client"
