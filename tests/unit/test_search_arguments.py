"""l2.configured: the one mapping from the search settings to hybrid_search's arguments."""

from __future__ import annotations

import inspect

from mcp_server.config import load_settings
from mcp_server.memory import l2
from tests.conftest import REPO


def test_every_knob_of_the_statement_comes_from_the_settings():
    search = load_settings("development", REPO / "config", secrets=False).search
    arguments = l2.configured(search, top_k=10)
    # Everything search_statements takes but the query itself and the bench-only way of matching:
    # a knob added there and not mapped here would silently keep its default in production.
    knobs = set(inspect.signature(l2.search_statements).parameters) - {
        "query_text",
        "embedding",
        "keyword_match",
    }
    assert knobs | {"ef_search"} == set(arguments)
    assert arguments["ef_search"] == search.ef_search
    assert arguments["answer_boost"] == search.answer_boost
    assert arguments["semantic_weight"] == search.weights.semantic
    assert arguments["candidates"] == max(search.candidates, 40)


def test_a_callers_weights_and_a_benchs_fusion_override_the_settings():
    search = load_settings("development", REPO / "config", secrets=False).search
    arguments = l2.configured(
        search, top_k=5, semantic_weight=0.9, keyword_weight=0.1, fusion="rrf"
    )
    assert (arguments["semantic_weight"], arguments["keyword_weight"]) == (0.9, 0.1)
    assert arguments["fusion"] == "rrf"
    assert arguments["top_k"] == 5
