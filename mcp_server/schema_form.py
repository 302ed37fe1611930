"""Output schemas in the form a client validates fastest, meaning the same.

The official Python client validates every tool result against the tool's output schema
(jsonschema). For hybrid_search's ten results that took about 2 ms a call (issue 10,
bench/hybrid_search.py), most of it resolving `$ref`s into `$defs` and trying each branch of
pydantic's `anyOf: [{type: X}, {type: null}]` for every optional field. Inlined definitions
and `type: [X, "null"]` accept and refuse exactly the same documents: 0.55x the validation
time. Recursive definitions stay references.
"""

from __future__ import annotations

from typing import Any

# Keywords that only describe: beside a `$ref` they change nothing the validator checks.
ANNOTATIONS = frozenset({"title", "description", "default", "examples"})
NULL = {"type": "null"}


def compact(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if not schema:
        return schema
    definitions = schema.get("$defs", {})
    if any(_refers_to(name, definitions, set()) for name in definitions):
        return _nullable(schema)  # recursive: leave the references
    inlined = _inline({k: v for k, v in schema.items() if k != "$defs"}, definitions)
    return _nullable(inlined)


def _ref_name(ref: str) -> str | None:
    prefix = "#/$defs/"
    return ref[len(prefix) :] if ref.startswith(prefix) else None


def _refers_to(target: str, definitions: dict[str, Any], seen: set[str]) -> bool:
    """Whether `target`'s definition reaches `target` again through references."""

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [_ref_name(node["$ref"])] if isinstance(node.get("$ref"), str) else []
            return [name for name in found if name] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for item in node for r in refs(item)]
        return []

    stack = refs(definitions.get(target))
    while stack:
        name = stack.pop()
        if name == target:
            return True
        if name not in seen and name in definitions:
            seen.add(name)
            stack.extend(refs(definitions[name]))
    return False


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    name = _ref_name(node["$ref"]) if isinstance(node.get("$ref"), str) else None
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    if name in definitions and set(siblings) <= ANNOTATIONS:
        return {**_inline(definitions[name], definitions), **siblings}
    return {key: _inline(value, definitions) for key, value in node.items()}


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    branches = node.get("anyOf")
    if (
        isinstance(branches, list)
        and len(branches) == 2
        and NULL in branches
        and "type" not in node
    ):
        others = [branch for branch in branches if branch != NULL]
        other = others[0] if len(others) == 1 else None
        if isinstance(other, dict) and set(other) == {"type"} and isinstance(other["type"], str):
            del node["anyOf"]
            node["type"] = [other["type"], "null"]
    return node
