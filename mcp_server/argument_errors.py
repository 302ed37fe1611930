"""Pydantic validation errors as one or two sentences a person (or a model) can act on.

"top_k must be between 1 and 100; got 0" instead of a multi-line dump with links. The
bounds come from the published JSON schema, so the message and the schema always agree.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

SHOWN_PROBLEMS = 3
SHOWN_VALUE_CHARS = 60

EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
         list: "an array", dict: "an object", type(None): "null"}  # fmt: skip


def describe(error: ValidationError, schema: dict[str, Any], *, what: str = "arguments") -> str:
    """The problems of `error` (at most three), each with what is accepted and what came."""
    problems: list[str] = []
    unknown: dict[tuple, list[str]] = {}
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        problem = _problem(item, loc, _subschema(schema, loc))
        if problem not in problems:
            problems.append(problem)
    for parent, names in unknown.items():
        accepted = sorted(_subschema(schema, parent).get("properties", {}))
        owner = f"{_name(parent)} has unknown key" if parent else f"unknown {what[:-1]}"
        problems.insert(
            0,
            f"{owner}{'s' if len(names) > 1 else ''} {', '.join(map(_show_name, names))}; "
            f"accepted: {', '.join(accepted) or 'none'}",
        )
    shown = ". ".join(problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return shown + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")


def _problem(item: dict[str, Any], loc: tuple, schema: dict[str, Any]) -> str:
    name, kind, value = _name(loc), item["type"], item.get("input")
    if kind == "missing":
        return f"{name} is required"
    if kind in EXPECTED:
        return f"{name} must be {EXPECTED[kind]}; got {_show(value)} ({_kind(value)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{name} must be {_range(schema, item.get('ctx', {}))}; got {_show(value)}"
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        return _length(name, kind, schema, item.get("ctx", {}), value)
    if kind == "finite_number":
        return f"{name} must be a finite number; got {_show(value)}"
    message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{name} {message}" if message.startswith("must ") else f"{name}: {message}"


def _range(schema: dict[str, Any], ctx: dict[str, Any]) -> str:
    low = schema.get("minimum", ctx.get("ge"))
    high = schema.get("maximum", ctx.get("le"))
    if "gt" in ctx or "lt" in ctx:
        parts = [f"greater than {_number(ctx['gt'])}"] if "gt" in ctx else []
        parts += [f"less than {_number(ctx['lt'])}"] if "lt" in ctx else []
        return " and ".join(parts)
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    return f"at least {_number(low)}" if low is not None else f"at most {_number(high)}"


def _length(name: str, kind: str, schema: dict, ctx: dict, value: Any) -> str:
    # A constrained text reports "too_long" like a list; its limit is still in characters.
    text = isinstance(value, str)
    unit = "character" if text else "item"
    size = f"; got {_count(len(value), unit)}" if hasattr(value, "__len__") else ""
    if kind.endswith("too_long"):
        high = schema.get("maxLength" if text else "maxItems", ctx.get("max_length"))
        return f"{name} must have at most {_count(high, unit)}{size}"
    low = schema.get("minLength" if text else "minItems", ctx.get("min_length"))
    if low == 1:
        return f"{name} must not be empty"
    return f"{name} must have at least {_count(low, unit)}{size}"


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}{'' if number == 1 else 's'}"


def _subschema(root: dict[str, Any], loc: tuple) -> dict[str, Any]:
    """The JSON schema that governs the value at `loc` ({} when it cannot be told)."""
    node = _resolve(root, root)
    for part in loc:
        if isinstance(part, int):
            node = _resolve(root, node.get("items", {}))
        else:
            node = _resolve(root, node.get("properties", {}).get(part, {}))
    return node


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(root, root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {}))
    options = [option for option in node.get("anyOf", ()) if option.get("type") != "null"]
    if len(options) == 1:
        return _resolve(root, {**node, **options[0], "anyOf": ()})
    return node


def _name(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the arguments"


def _show_name(name: str) -> str:
    return json.dumps(name, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()


def _show(value: Any) -> str:
    """A short JSON rendering that survives the wire (lone surrogates escaped)."""
    if isinstance(value, str) and len(value) > SHOWN_VALUE_CHARS:
        return f"a string of {len(value)} characters"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    text = text.encode("utf-8", "backslashreplace").decode()
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def _kind(value: Any) -> str:
    return KINDS.get(type(value), type(value).__name__)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
