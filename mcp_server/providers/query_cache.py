"""Recently embedded query texts, so asking the same thing again costs no model call."""

from __future__ import annotations

from collections import OrderedDict

# 2048 vectors of 1536 floats are about 25 MB as Python lists; enough for a session's
# repeated questions (a client re-asking, a drift check, paging through top_k).
CAPACITY = 2048


class QueryCache:
    """Least recently used text -> vector; one per embedder, so a model change starts empty."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()

    def get(self, text: str) -> list[float] | None:
        vector = self._vectors.get(text)
        if vector is not None:
            self._vectors.move_to_end(text)
        return vector

    def put(self, text: str, vector: list[float]) -> None:
        self._vectors[text] = vector
        self._vectors.move_to_end(text)
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
