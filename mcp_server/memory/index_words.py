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

LoCoMo (bench/locomo.py, local MiniLM, held-out conv-42/43), recall@5 / recall@10 in one
NumPy run over PostgreSQL's own tokens: the turn before at full weight 0.700 / 0.798; plus the
date 0.729 / 0.814; two turns either side at half weight 0.761 / 0.833; without the
neighbours' speaker names 0.775 / 0.841.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

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


_WORDS = """
WITH sources AS (
    SELECT id, session_id, speaker, content, created_at,
           coalesce(occurred_at, created_at) AS said_at
    FROM l0_raw WHERE id = ANY(%(ids)s::bigint[])
),
first AS (SELECT session_id, created_at, id FROM sources ORDER BY created_at, id LIMIT 1),
last AS (
    SELECT session_id, created_at, id FROM sources ORDER BY created_at DESC, id DESC LIMIT 1
),
before AS (
    SELECT turn.id, turn.speaker, turn.content, turn.created_at
    FROM l0_raw AS turn, first
    WHERE turn.session_id = first.session_id
      AND (turn.created_at, turn.id) < (first.created_at, first.id)
    ORDER BY turn.created_at DESC, turn.id DESC
    LIMIT %(turns)s
),
after AS (
    SELECT turn.id, turn.speaker, turn.content, turn.created_at
    FROM l0_raw AS turn, last
    WHERE turn.session_id = last.session_id
      AND (turn.created_at, turn.id) > (last.created_at, last.id)
    ORDER BY turn.created_at, turn.id
    LIMIT %(turns)s
),
around AS (
    SELECT * FROM before UNION SELECT * FROM after
)
SELECT
    concat_ws(E'\n',
        (SELECT string_agg(speaker || ': ' || content, E'\n' ORDER BY created_at, id)
         FROM sources WHERE strpos(%(content)s, content) = 0),
        (SELECT string_agg(DISTINCT to_char(said_at, %(date_words)s), E'\n'
                               ORDER BY to_char(said_at, %(date_words)s)) FROM sources)
    ) AS source_words,
    coalesce(
        (SELECT string_agg(content, E'\n' ORDER BY created_at, id)
         FROM around WHERE id NOT IN (SELECT id FROM sources)),
        ''
    ) AS context
"""


async def words_of(
    conn: AsyncConnection, source_ids: list[int], content: str, context_turns: int
) -> IndexWords:
    """The source words and the context of an insight with this content and these sources."""
    cursor = await conn.execute(
        _WORDS,
        {
            "ids": source_ids,
            "content": content,
            "turns": context_turns,
            "date_words": DATE_WORDS,
        },
    )
    source_words, context = await cursor.fetchone()
    return IndexWords(source_words=source_words, context=context)


async def refresh_context_before(conn: AsyncConnection, turn_id: int, context_turns: int) -> int:
    """Give the insights made from the `context_turns` turns before this one (same session)
    their context anew, now that this turn follows them. Returns how many changed."""
    if context_turns == 0:
        return 0
    cursor = await conn.execute(
        """
        WITH turn AS (SELECT session_id, created_at, id FROM l0_raw WHERE id = %(id)s),
        before AS (
            SELECT earlier.id
            FROM l0_raw AS earlier, turn
            WHERE earlier.session_id = turn.session_id
              AND (earlier.created_at, earlier.id) < (turn.created_at, turn.id)
            ORDER BY earlier.created_at DESC, earlier.id DESC
            LIMIT %(turns)s
        )
        SELECT id, content, source_ids FROM l2_insights
        WHERE source_ids && (SELECT array_agg(id) FROM before)
        ORDER BY id DESC
        LIMIT %(limit)s""",
        {"id": turn_id, "turns": context_turns, "limit": REFRESH_LIMIT},
    )
    changed = 0
    for insight_id, content, source_ids in await cursor.fetchall():
        words = await words_of(conn, source_ids, content, context_turns)
        updated = await conn.execute(
            "UPDATE l2_insights SET context = %(context)s "
            "WHERE id = %(id)s AND context IS DISTINCT FROM %(context)s",
            {"id": insight_id, "context": words.context},
        )
        changed += updated.rowcount
    return changed
