"""A deterministic lexical embedder: feature hashing of words and character trigrams.

For tests and offline demos only. It finds shared words and spellings, never meaning, so
production refuses it unless explicitly allowed and `ping` names it.
"""

from __future__ import annotations

import hashlib
import math
import re

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    provider = "hashing"

    def __init__(self, model: str = "hashing-lexical-v1", dimension: int = 384) -> None:
        self.model = model
        self.dimension = dimension

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in _WORD.findall(text)]
        trigrams = [w[i : i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]
        return words + [f"#{t}" for t in trigrams]

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for feature in self._features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0:
            # No word at all: a fixed unit vector keeps cosine distance defined.
            vector[0] = 1.0
            return vector
        return [v / norm for v in vector]

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """The same vectors without an event loop (the fake model server uses it)."""
        return [self._vector(text) for text in texts]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_sync(texts)
