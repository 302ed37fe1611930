"""Diversity past the head of a result page: maximal marginal relevance (Carbonell and
Goldstein, 1998) over the best-scored hits.

A conversation says one thing in several turns, and a store keeps each of them: their
insights are near-duplicates in meaning and share their context words, so a page of ten held
the same exchange three or four times and left out the other turn a question needed. Past
the first `keep` hits (the best by score, unchanged), each next hit is the one with the
highest score minus `weight` times its cosine similarity to the most similar hit already on
the page. On LoCoMo (bench/locomo.py, all-MiniLM-L6-v2, top 10, after 5, weight 0.2, from the
best 30) recall@10 rose in each of the five conversations: tuned three 0.856 -> 0.875, the two
held out 0.841 -> 0.849, multi-hop questions most; recall@5 cannot change.
"""

from __future__ import annotations

from collections.abc import Sequence

# How many hits lead the page by score alone (search.diversify_after; l2's default).
KEEP = 5
# The diversified part of a page ends at this rank; further hits follow by score. A page
# of ten is what a client reads, and the cosines grow with the square of the span: at
# top_k 100 and 1536 dims, diversifying the whole page took a search from 14 to 118 ms.
UNTIL = 10
# How many of the best-scored hits the diversified part is chosen from, per rank in it.
# 2x to 5x gave the same recall on LoCoMo; each more hit is one more row of cosines.
POOL_PER_HIT = 3


def span(top_k: int) -> int:
    """How many of the best hits the diversified ranks are chosen from."""
    return POOL_PER_HIT * min(top_k, UNTIL)


def diversifies(top_k: int, weight: float, keep: int) -> bool:
    """Whether a page is diversified at all: not at a zero weight, nor when it is no longer
    than its head."""
    return weight > 0 and top_k > keep


def pool_size(top_k: int, weight: float, keep: int) -> int:
    """How many hits to rank before choosing a page of top_k."""
    return max(top_k, span(top_k)) if diversifies(top_k, weight, keep) else top_k


def page_order(
    scores: Sequence[float],
    similarities: Sequence[Sequence[float | None] | None],
    *,
    top_k: int,
    weight: float,
    keep: int,
) -> list[int]:
    """Indexes into `scores` (best first) of the page: the first `keep` as they are, then up
    to rank UNTIL, from the best span(top_k), by score minus weight x the greatest
    similarity to a hit already chosen; then the rest by score.

    similarities[i][j], for j < i, is the cosine of hits i and j (l2 sends only that half,
    and only for keep <= i < span); None (a hit without a vector of the current model)
    counts as unrelated. Ties keep the score order.
    """

    def similarity(i: int, j: int) -> float:
        row = similarities[max(i, j)]
        return (row[min(i, j)] if row is not None else None) or 0.0

    diverse = min(top_k, UNTIL)
    chosen = list(range(min(keep, diverse, len(scores))))
    # The closest chosen hit, per candidate; updated as the page grows.
    closest = {
        i: max((similarity(i, j) for j in chosen), default=0.0)
        for i in range(len(chosen), min(span(top_k), len(scores)))
    }
    while closest and len(chosen) < diverse:
        best = max(closest, key=lambda i: (scores[i] - weight * closest[i], -i))
        chosen.append(best)
        del closest[best]
        for i in closest:
            closest[i] = max(closest[i], similarity(i, best))
    taken = set(chosen)
    return (chosen + [i for i in range(len(scores)) if i not in taken])[:top_k]
