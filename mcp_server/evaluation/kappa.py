"""Cohen's kappa between two judges, on relevance made binary at a threshold.

A missing score (a judge whose answer could not be read) drops that pair: it is neither
relevant nor irrelevant. When both judges put every doc in the same one class, chance
agreement is 1 and kappa is 0/0: we say so (kappa None, degenerate True) instead of
inventing a number; raw agreement is reported in every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RELEVANT_AT = 0.5


@dataclass(frozen=True)
class Agreement:
    kappa: float | None
    raw_agreement: float | None  # share of pairs on the same side of the threshold
    pairs: int  # docs both judges scored
    degenerate: bool = False  # both judges used one and the same class only

    @property
    def note(self) -> str:
        if self.pairs == 0:
            return "no doc was scored by both judges"
        if self.degenerate:
            return "both judges put every doc in one class: kappa is undefined"
        return ""


def relevant(score: float, threshold: float = RELEVANT_AT) -> bool:
    return score >= threshold


def cohen_kappa(
    scores1: Sequence[float | None],
    scores2: Sequence[float | None],
    threshold: float = RELEVANT_AT,
) -> Agreement:
    if len(scores1) != len(scores2):
        raise ValueError(f"score lists differ in length: {len(scores1)} and {len(scores2)}")
    pairs = [
        (relevant(a, threshold), relevant(b, threshold))
        for a, b in zip(scores1, scores2, strict=True)
        if a is not None and b is not None
    ]
    n = len(pairs)
    if n == 0:
        return Agreement(None, None, 0)
    observed = sum(a == b for a, b in pairs) / n
    yes1 = sum(a for a, _ in pairs) / n
    yes2 = sum(b for _, b in pairs) / n
    expected = yes1 * yes2 + (1 - yes1) * (1 - yes2)
    if expected >= 1.0:
        return Agreement(None, observed, n, degenerate=True)
    return Agreement((observed - expected) / (1 - expected), observed, n)
