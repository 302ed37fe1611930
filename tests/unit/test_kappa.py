"""Cohen's kappa against cases computed by hand."""

from __future__ import annotations

import pytest

from mcp_server.evaluation.judging import read_score
from mcp_server.evaluation.kappa import cohen_kappa
from mcp_server.evaluation.replies import first_json_object


def test_perfect_agreement_is_kappa_one():
    a = cohen_kappa([0.9, 0.1, 0.8, 0.2], [1.0, 0.0, 0.6, 0.4])
    assert (a.kappa, a.raw_agreement, a.pairs) == (1.0, 1.0, 4)


def test_agreement_no_better_than_chance_is_kappa_zero():
    # Judge 1: yes yes no no; judge 2: yes no yes no. po = 1/2, pe = 1/2*1/2 + 1/2*1/2 = 1/2.
    a = cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0])
    assert a.kappa == 0.0 and a.raw_agreement == 0.5


def test_systematic_disagreement_is_negative():
    a = cohen_kappa([1, 1, 0, 0], [0, 0, 1, 1])
    assert a.kappa == -1.0 and a.raw_agreement == 0.0


def test_a_textbook_case():
    # 10 docs: both yes 4, both no 3, only judge 1 yes 2, only judge 2 yes 1.
    # po = 0.7; p1 = 0.6, p2 = 0.5; pe = 0.3 + 0.2 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    judge1 = [1] * 4 + [0] * 3 + [1] * 2 + [0]
    judge2 = [1] * 4 + [0] * 3 + [0] * 2 + [1]
    assert cohen_kappa(judge1, judge2).kappa == pytest.approx(0.4)


def test_the_threshold_is_inclusive_at_one_half():
    assert cohen_kappa([0.5, 0.49], [1, 0]).kappa == 1.0


def test_both_judges_in_one_class_is_degenerate_not_a_number():
    a = cohen_kappa([0.9, 0.8, 0.7], [1.0, 0.6, 0.9])
    assert a.kappa is None and a.degenerate and a.raw_agreement == 1.0
    assert "undefined" in a.note


def test_one_judge_in_one_class_is_a_number():
    # Judge 1 all yes, judge 2 yes no: po = 1/2, pe = 1*1/2 + 0 = 1/2, kappa 0.
    assert cohen_kappa([1, 1], [1, 0]).kappa == 0.0


def test_a_missing_score_drops_its_pair_and_is_not_a_zero():
    # Pair 3 is missing for judge 2: as a 0 it would be a disagreement and kappa would drop.
    a = cohen_kappa([1, 0, 1], [1, 0, None])
    assert (a.kappa, a.pairs) == (1.0, 2)


def test_no_pairs_at_all():
    a = cohen_kappa([None, 1], [0, None])
    assert (a.kappa, a.raw_agreement, a.pairs) == (None, None, 0)
    assert a.note == "no doc was scored by both judges"


def test_lists_of_different_length_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        cohen_kappa([1], [1, 0])


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 0.7, "reason": "ok"}', 0.7),
        ('```json\n{"score": 1, "reason": "x"}\n```', 1.0),
        ('Sure! {"score": 0.25} hope that helps', 0.25),
        ('{"score": "0.7"}', None),  # a string is not a score
        ('{"score": 1.5}', None),
        ('{"score": true}', None),
        ('{"score": NaN}', None),
        ("quite relevant", None),
        ('{"score": 0.5', None),
        ("", None),
    ],
)
def test_a_judge_reply_is_a_score_or_missing(reply, score):
    assert read_score(reply) == score


def test_the_first_json_object_is_taken():
    assert first_json_object('x [1] {"a": {"b": 2}} {"c": 3}') == {"a": {"b": 2}}
