"""Read a model's JSON answer: the object it returned, or None when there is none.

Models wrap JSON in code fences or a sentence now and then; we take the first JSON object
in the text. Anything else (no object, bad JSON, wrong fields) is "no answer", which the
caller records as missing, never as a number we made up.
"""

from __future__ import annotations

import json
import math
from typing import Any

_decoder = json.JSONDecoder()


def first_json_object(text: str) -> dict[str, Any] | None:
    for start, char in enumerate(text):
        if char != "{":
            continue
        try:
            value, _ = _decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def number_in(value: Any, low: float, high: float) -> float | None:
    """A finite number within [low, high], else None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        return None
    return value


def text_field(answer: dict[str, Any] | None, name: str, limit: int = 2000) -> str | None:
    value = answer.get(name) if answer else None
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]
