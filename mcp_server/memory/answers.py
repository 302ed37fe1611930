"""An answer follows its question: a hit gains from the score of the question it answers.

In a conversation the turn that holds an answer rarely repeats its question: "What inspired
your painting?" is answered by "I painted it after I visited the LGBTQ center", which shares
few words and little meaning with a search for what inspired the painting, while the question
turn itself matches it best. So each insight knows its `question_id` (stored with it, from
index_words): the raw turn just before its first source turn, in the same session, when that
turn asks something (holds a question mark). A search adds to a hit's fused score `boost`
times the fused score of the question's own hit in the same search: an insight whose one
source is that turn (a distilled insight citing it among others is not the question).

Only the hits the search found (either branch) take part, so it reads no table, and a hit
that answers no found question keeps its score: a store without questions ranks as before.

On LoCoMo (bench/locomo.py, all-MiniLM-L6-v2, top 10; 0.2 chosen on the tuned three among
0.1-0.4; held out, every value of that range gave @10 0.862-0.873), recall@5 / @10: tuned
0.791 / 0.875 -> 0.804 / 0.885, the two held out 0.775 / 0.849 -> 0.790 / 0.870, multi-hop
and single-hop questions most; per conversation @5 rose in four of five and @10 in three
(conv-30 equal, conv-41 one question fewer), and recall rose in every mode (semantic only,
keyword only, RRF). Temporal questions lost at @5 on the tuned three (0.956 -> 0.933): a
"when" question is often answered by the turn that tells the date, not by the reply after it.
Distilled insights (--insights observations): @10 unchanged (0.764), @5 one question fewer.
"""

from __future__ import annotations

# What makes a raw turn a question: an ASCII or full-width question mark anywhere in it.
QUESTION_MARKS = "[?？]"

# The l0 turn a set of source turns answers: the one just before the first of them in the
# same session (ordered as index_words orders a session) when it holds a question mark.
# {ids} is an SQL expression of bigint[]; %(question_marks)s is QUESTION_MARKS.
QUESTION_OF = """(
    SELECT before.id
    FROM (
        SELECT turn.id, turn.content
        FROM (SELECT session_id, created_at, id FROM l0_raw
              WHERE id = ANY({ids}) ORDER BY created_at, id LIMIT 1) AS first,
             l0_raw AS turn
        WHERE turn.session_id = first.session_id
          AND (turn.created_at, turn.id) < (first.created_at, first.id)
        ORDER BY turn.created_at DESC, turn.id DESC
        LIMIT 1
    ) AS before
    WHERE before.content ~ %(question_marks)s
)"""

# The statement's step between fusion and the page (l2._FUSION): `answers` are the fused hits
# with their boosted score. A found hit made from one turn carries its score for that turn
# (`askers`), and a hit whose question_id is such a turn gains `boost` times that score. A
# hash join over the found rows: no table is read. (Unnesting every hit's sources instead
# gave the same LoCoMo recall in every mode and cost more: 1.045x against 0.99x of the
# statement at top_k 5, alternating, 680 insights, load 6.)
ANSWERS = """
askers AS (  -- the hits whose one source is a turn
    SELECT sole_source AS turn, score FROM fused
    WHERE sole_source IS NOT NULL AND score > 0
),
answered AS (
    SELECT fused.id, max(askers.score) AS question_score
    FROM fused JOIN askers ON askers.turn = fused.question_id
    GROUP BY fused.id
),
answers AS (
    SELECT fused.id, fused.semantic_rank, fused.keyword_rank,
           fused.semantic_score, fused.keyword_score,
           fused.score + %(answer_boost)s::float8 * coalesce(answered.question_score, 0) AS score
    FROM fused LEFT JOIN answered ON answered.id = fused.id
),"""
# Without a boost the fused hits are the answers, at no cost.
UNBOOSTED = """
answers AS (SELECT * FROM fused),"""


def step(boost: float) -> str:
    """The statement's `answers` step for this boost."""
    return ANSWERS if boost > 0 else UNBOOSTED
