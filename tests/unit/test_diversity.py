"""memory/diversity.py: which hits make a page, past its head; and literal hits
(relevance.merge) joining such a page."""

from __future__ import annotations

import datetime as dt

from mcp_server.memory import diversity, relevance
from mcp_server.memory.l2 import SearchHit

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

# Hits 0-2 are one exchange said three times; hit 3 is different and scores a little lower.
SCORES = [0.9, 0.88, 0.87, 0.8, 0.5]
SIMILAR = [
    [1.0, 0.95, 0.95, 0.1, 0.0],
    [0.95, 1.0, 0.95, 0.1, 0.0],
    [0.95, 0.95, 1.0, 0.1, 0.0],
    [0.1, 0.1, 0.1, 1.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.0],
]


def order(top_k=3, weight=0.2, keep=1, scores=SCORES, similar=SIMILAR):
    return diversity.page_order(scores, similar, top_k=top_k, weight=weight, keep=keep)


def test_past_the_head_a_different_hit_comes_before_repeats_that_score_higher():
    assert order() == [0, 3, 1]


def test_the_head_is_kept_in_score_order_and_weight_zero_is_score_order():
    assert order(keep=3) == [0, 1, 2]
    assert order(weight=0.0, top_k=5) == [0, 1, 2, 3, 4]


def test_a_hit_without_a_vector_counts_as_unrelated():
    similar = [row[:] for row in SIMILAR]
    for i in range(3):
        similar[i][3] = similar[3][i] = None
    assert order(similar=similar) == [0, 3, 1]


def test_only_the_half_below_the_diagonal_past_the_head_is_read():
    # What l2 sends: row i holds the cosines with hits 0..i-1, and the head rows nothing.
    half = [None, *(row[:i] for i, row in enumerate(SIMILAR) if i)]
    assert order(similar=half) == order() == [0, 3, 1]
    assert order(top_k=4, weight=0.5, similar=half) == [0, 3, 4, 1]


def test_each_next_hit_is_penalised_by_its_closest_chosen_hit():
    # After 0 and 3, hit 4 (unrelated to both) beats the repeats only at a high weight.
    assert order(top_k=4, weight=0.2) == [0, 3, 1, 2]
    assert order(top_k=4, weight=0.5) == [0, 3, 4, 1]


def test_ties_keep_the_score_order_and_a_short_pool_gives_a_short_page():
    assert order(scores=[0.5, 0.5, 0.5], similar=[[0.0] * 3] * 3, top_k=10) == [0, 1, 2]
    assert order(scores=[], similar=[], top_k=10) == []


def test_the_pool_grows_only_when_a_page_is_diversified_and_only_up_to_rank_ten():
    assert diversity.pool_size(10, 0.2, 5) == 30
    assert diversity.pool_size(5, 0.2, 5) == 5
    assert diversity.pool_size(10, 0.0, 5) == 10
    assert diversity.pool_size(6, 0.2, 5) == 18
    assert diversity.pool_size(100, 0.2, 5) == 100 and diversity.span(100) == 30


def test_past_rank_ten_the_rest_follow_by_score():
    # 0-9 unrelated; 10 (0.6) nearly repeats 0; 11 (0.5) is unrelated. Diversifying past
    # rank ten would put 11 before 10; the page keeps score order there.
    scores = [1.0 - n / 100 for n in range(10)] + [0.6, 0.5]
    similar = [[0.0] * 12 for _ in range(12)]
    similar[10][0] = similar[0][10] = 0.9
    page = diversity.page_order(scores, similar, top_k=12, weight=1.0, keep=0)
    assert page == list(range(12))
    assert diversity.page_order(scores, similar, top_k=10, weight=1.0, keep=0) == [*range(10)]


def hit(row_id: int, score: float) -> SearchHit:
    return SearchHit(row_id, f"insight {row_id}", NOW, [], score, None, None, None, None)


def test_literal_hits_join_a_diversified_page_without_resorting_it():
    # Past the head of five, 9 (0.5) was chosen before the repeats 6-8 that score higher.
    page = [hit(i, 0.9 - i / 100) for i in range(1, 6)] + [hit(9, 0.5), hit(6, 0.84)]
    merged = relevance.merge(page, [hit(20, 0.86), hit(30, 0.6), hit(3, 0.5)], top_k=8)
    assert [h.id for h in merged] == [1, 2, 3, 4, 20, 5, 30, 9]  # 3 is already there
    # A page in score order stays in score order, ties by id.
    ordered = [hit(1, 0.9), hit(4, 0.5)]
    assert [h.id for h in relevance.merge(ordered, [hit(2, 0.5), hit(7, 0.95)], 10)] == [
        7, 1, 2, 4,
    ]  # fmt: skip
