"""Schema-level fuzzing of every tool through the official client, in memory.

Arguments are drawn from each tool's published input schema, mixed with arbitrary JSON,
control characters and lone surrogates. Whatever arrives, a call must end in a valid
structured result or a clear tool error (never the SDK's "Error executing tool X", which
marks a crash, nor a pydantic dump), an error must write nothing, and the server must keep serving.
"""

from __future__ import annotations

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic_core import PydanticSerializationError

from mcp_server.runtime import Runtime
from mcp_server.server import build_server
from tests.support.memory_schema import TOOLS, row_counts

# Text a model or a broken client might send: ordinary Unicode, control characters
# (NUL included) and lone surrogates.
texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Cc", "Zs", "L"]), min_size=1, max_size=8),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=8,
)


def from_schema(schema: dict, defs: dict) -> st.SearchStrategy:
    """Values that satisfy the subset of JSON Schema our tools publish (shorter strings)."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([from_schema(option, defs) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", 40), 40)))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "array":
        low = schema.get("minItems", 0)
        high = max(low, min(schema.get("maxItems", 5), 5))
        return st.lists(from_schema(schema["items"], defs), min_size=low, max_size=high)
    if kind == "object":
        return st.fixed_dictionaries(
            {name: from_schema(sub, defs) for name, sub in schema.get("properties", {}).items()}
        )
    if kind == "boolean":
        return st.booleans()
    return st.none()


def arguments_for(schema: dict) -> st.SearchStrategy[dict]:
    """Valid arguments, or valid ones with one parameter replaced by junk, dropped or added."""
    defs = schema.get("$defs", {})
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    valid = st.fixed_dictionaries(
        {name: from_schema(sub, defs) for name, sub in properties.items() if name in required},
        optional={
            name: from_schema(sub, defs) for name, sub in properties.items() if name not in required
        },
    )
    names = st.sampled_from([*sorted(properties), "unexpected"])
    replaced = st.builds(lambda args, name, value: args | {name: value}, valid, names, junk)
    dropped = st.builds(
        lambda args, name: {k: v for k, v in args.items() if k != name}, valid, names
    )
    return st.one_of(valid, replaced, dropped)


@pytest.fixture
def served(migrated_database):
    """(portal, client, url): one in-memory server for every example of a test."""
    settings_, url = migrated_database
    server = build_server(Runtime(settings_, url))
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(server, cache=None)) as client,
    ):
        yield portal, client, url


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_any_arguments_end_in_a_result_or_a_clear_error(served, tool):
    portal, client, url = served
    listed = {t.name: t for t in portal.call(client.list_tools).tools}
    schema = listed[tool].input_schema

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(arguments_for(schema))
    def check(arguments):
        before = row_counts(url)
        try:
            result = portal.call(client.call_tool, tool, arguments)
        except (UnicodeEncodeError, PydanticSerializationError):
            # The client itself cannot encode a lone surrogate in a key: nothing was sent.
            assert row_counts(url) == before
            return
        event("tool error" if result.is_error else "result")
        if result.is_error:
            message = result.content[0].text
            # The SDK's "Error executing tool X" marks a crash; a refusal is a short sentence.
            assert not message.startswith("Error executing tool"), message
            assert len(message) < 600 and "pydantic" not in message, message
            assert row_counts(url) == before, arguments
        else:
            assert result.structured_content is not None

    check()
    assert not portal.call(client.call_tool, "ping", {}).is_error
