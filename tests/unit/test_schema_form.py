"""Compact output schemas accept and refuse exactly what pydantic's own schemas do."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import validators
from pydantic import BaseModel

from mcp_server import schema_form, strict_tools, tools

RESULT = {
    "id": 7,
    "content": "the user deploys with pyinfra",
    "created_at": "2026-11-26T07:00:00Z",
    "source_ids": [1, 2],
    "score": 0.5,
    "semantic_rank": 1,
    "keyword_rank": None,
    "semantic_score": 0.4,
    "keyword_score": None,
}
VALID = {
    "results": [RESULT, {**RESULT, "id": 8, "keyword_rank": 2, "keyword_score": 3.5}],
    "embedding_provider": "hashing",
    "embedding_model": "hashing-lexical-v1",
    "weights": {"semantic": 0.5, "keyword": 0.5},
}


def changed(path: list, value) -> dict:
    document = copy.deepcopy(VALID)
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


DOCUMENTS = [
    VALID,
    {**VALID, "results": []},
    changed(["results", 0, "semantic_rank"], "1"),
    changed(["results", 0, "semantic_rank"], 1.5),
    changed(["results", 0, "id"], None),
    changed(["results", 0, "keyword_score"], "high"),
    changed(["results", 0, "semantic_rank"], KeyError),
    changed(["results", 0, "semantic_score"], KeyError),  # has a default: may be absent
    changed(["weights", "other"], 0.1),  # SearchWeights forbids extra keys
    changed(["weights", "semantic"], 2),
    changed(["results"], None),
]


def accepts(schema: dict, document: dict) -> bool:
    validator = validators.validator_for(schema)(schema)
    return not list(validator.iter_errors(document))


def published() -> dict[str, dict]:
    return {tool.name: tool.output_schema for tool in strict_tools.build(tools.TOOLS)}


def test_hybrid_search_publishes_a_compact_schema_with_the_same_verdicts():
    schema = published()["hybrid_search"]
    assert "$ref" not in json.dumps(schema) and '{"type": "null"}' not in json.dumps(schema)
    original = tools.SearchResults.model_json_schema()
    verdicts = [accepts(original, document) for document in DOCUMENTS]
    assert verdicts == [accepts(schema, document) for document in DOCUMENTS]
    assert verdicts[:2] == [True, True] and verdicts.count(True) == 3  # the cases bite


@pytest.mark.parametrize("name", sorted(published()))
def test_every_tool_schema_keeps_its_meaning(name):
    original = {tool.name: tool for tool in strict_tools.build(tools.TOOLS)}[name]
    schema = original.output_schema
    if schema is None:
        pytest.skip("unstructured output")
    # The verdict on a document of nothing but nulls and on an empty one are the same.
    for document in ({}, dict.fromkeys(schema.get("properties", {}))):
        loose = original.fn_metadata.output_model
        reference = loose.model_json_schema() if loose else schema
        assert accepts(reference, document) == accepts(schema, document)


class Node(BaseModel):
    label: str | None
    children: list[Node]


def test_a_recursive_schema_keeps_its_references():
    schema = schema_form.compact(Node.model_json_schema())
    assert "$ref" in json.dumps(schema)
    tree = {"label": None, "children": [{"label": "leaf", "children": []}]}
    assert accepts(schema, tree)
    assert not accepts(schema, {"label": 1, "children": []})
