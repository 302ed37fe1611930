"""The words an insight is found by, besides its own content (migration 005).

- `source_words`, indexed at full weight: the source turns the content does not quote (a
  client's distilled insight keeps its raw evidence searchable) and the date each source
  turn was said, as words ("8 May 2023 Monday"), so "what did she do in May 2023?" finds
  it. The date is the turn's `occurred_at` when the client gave one, else when it was
  stored, in the database session's time zone.
- `context`, indexed at search.context_weight: up to search.context_turns turns of the same
  session before the first source turn and after the last one, one line each, without
  their speakers (who else spoke says nothing about this insight; with the names every
  insight held every speaker's name).
  An answer rarely repeats its question ("Yes, last Sunday!") and a question is often
  answered in the next turn; the turns after an insight arrive later, so storing a turn
  refreshes the context of the insights made from the turns just before it.
- `question_id`, not words but found the same way: the turn just before the sources when it
  asks something, so a search can rank an answer by its question (answers.py).

LoCoMo (bench/locomo.py, local MiniLM, held-out conv-42/43), recall@5 / recall@10 in one
NumPy run over PostgreSQL's own tokens: the turn before at full weight 0.700 / 0.798; plus the
date 0.729 / 0.814; two turns either side at half weight 0.761 / 0.833; without the
neighbours' speaker names 0.775 / 0.841.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

from mcp_server.memory import answers

# FM drops padding: "8 May 2023 Monday". Month and day names are English, as the default
# text search configuration.
DATE_WORDS = "FMDD FMMonth YYYY FMDay"
# At most this many insights get a new context per stored turn (a turn is rarely the
# source of more than one or two).
REFRESH_LIMIT = 20


@dataclass(frozen=True)
class IndexWords:
    source_words: str
    context: str
    question_id: int | None = None  # the raw turn the insight answers (answers.py)


# The context of the insight whose source turns are {ids} (an SQL expression of bigint[]):
# the turns of the same session just before the first and just after the last source turn.
_CONTEXT = """
    SELECT coalesce(string_agg(around.content, E'\\n' ORDER BY around.created_at, around.id), '')
    FROM (
        SELECT session_id, created_at, id FROM l0_raw
        WHERE id = ANY({ids}) ORDER BY created_at, id LIMIT 1
    ) AS first,
    (
        SELECT session_id, created_at, id FROM l0_raw
        WHERE id = ANY({ids}) ORDER BY created_at DESC, id DESC LIMIT 1
    ) AS last,
    LATERAL (
        (SELECT turn.id, turn.content, turn.created_at FROM l0_raw AS turn
         WHERE turn.session_id = first.session_id
           AND (turn.created_at, turn.id) < (first.created_at, first.id)
         ORDER BY turn.created_at DESC, turn.id DESC LIMIT %(turns)s)
        UNION
        (SELECT turn.id, turn.content, turn.created_at FROM l0_raw AS turn
         WHERE turn.session_id = last.session_id
           AND (turn.created_at, turn.id) > (last.created_at, last.id)
         ORDER BY turn.created_at, turn.id LIMIT %(turns)s)
    ) AS around
    WHERE around.id <> ALL({ids})
"""

_WORDS = f"""
WITH sources AS (
    SELECT id, speaker, content, created_at, coalesce(occurred_at, created_at) AS said_at
    FROM l0_raw WHERE id = ANY(%(ids)s::bigint[])
)
SELECT
    concat_ws(E'\\n',
        (SELECT string_agg(speaker || ': ' || content, E'\\n' ORDER BY created_at, id)
         FROM sources WHERE strpos(%(content)s, content) = 0),
        (SELECT string_agg(DISTINCT to_char(said_at, %(date_words)s), E'\\n'
                           ORDER BY to_char(said_at, %(date_words)s)) FROM sources)
    ) AS source_words,
    ({_CONTEXT.format(ids="%(ids)s::bigint[]")}) AS context,
    {answers.QUESTION_OF.format(ids="%(ids)s::bigint[]")} AS question_id
"""

# One statement per stored turn: the insights made from the turns just before it get their
# context anew (a GIN index on source_ids finds them).
_REFRESH = f"""
WITH turn AS (SELECT session_id, created_at, id FROM l0_raw WHERE id = %(id)s),
before AS (
    SELECT earlier.id
    FROM l0_raw AS earlier, turn
    WHERE earlier.session_id = turn.session_id
      AND (earlier.created_at, earlier.id) < (turn.created_at, turn.id)
    ORDER BY earlier.created_at DESC, earlier.id DESC
    LIMIT %(turns)s
),
targets AS (
    SELECT id, source_ids FROM l2_insights
    WHERE source_ids && (SELECT array_agg(id) FROM before)
    ORDER BY id DESC
    LIMIT %(limit)s
),
fresh AS (
    SELECT targets.id, ({_CONTEXT.format(ids="targets.source_ids")}) AS context
    FROM targets
)
UPDATE l2_insights SET context = fresh.context
FROM fresh
WHERE l2_insights.id = fresh.id AND l2_insights.context IS DISTINCT FROM fresh.context
"""


async def words_of(
    conn: AsyncConnection, source_ids: list[int], content: str, context_turns: int
) -> IndexWords:
    """The source words, the context and the question of an insight with this content and
    these sources."""
    cursor = await conn.execute(
        _WORDS,
        {
            "ids": source_ids,
            "content": content,
            "turns": context_turns,
            "date_words": DATE_WORDS,
            "question_marks": answers.QUESTION_MARKS,
        },
    )
    source_words, context, question_id = await cursor.fetchone()
    return IndexWords(source_words=source_words, context=context, question_id=question_id)


async def refresh_context_before(conn: AsyncConnection, turn_id: int, context_turns: int) -> int:
    """Give the insights made from the `context_turns` turns before this one (same session)
    their context anew, now that this turn follows them. Returns how many changed."""
    if context_turns == 0:
        return 0
    cursor = await conn.execute(
        _REFRESH, {"id": turn_id, "turns": context_turns, "limit": REFRESH_LIMIT}
    )
    return cursor.rowcount
