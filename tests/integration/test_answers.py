"""An answer follows its question (memory/answers.py): which raw turn an insight answers, as
stored through the official MCP client, and how a search adds that question's score to its
answer's. Real embedded PostgreSQL + pgvector.
"""

from __future__ import annotations

import psycopg
import pytest

from mcp_server.memory import index_words, l0, l2
from mcp_server.ops import reindex
from tests.integration.test_memory_repositories import embed, query
from tests.support.mcp import call, connect

pytestmark = pytest.mark.anyio
# The configured default (search.answer_boost).
BOOST = 0.2


async def test_an_insight_stores_the_question_turn_just_before_its_sources(migrated_database):
    settings, url = migrated_database
    async with connect(settings, url) as client:

        async def turn(session: str, text: str) -> int:
            stored = await call(
                client, "store_raw_dialogue", session_id=session, speaker="Ann", content=text
            )
            return stored["id"]

        async def insight(text: str, *sources: int) -> int:
            stored = await call(
                client, "compress_to_l2_insight", content=text, source_ids=list(sources)
            )
            return stored["id"]

        asks = await turn("a", "Lovely! What inspired the painting? Tell me")
        answer = await turn("a", "A visit to the lake.")
        after_answer = await turn("a", "Sounds calm.")
        await turn("a", "Same time next week?")  # a question, the last of its session
        first_of_b = await turn("b", "Fine.")  # just after it, but in another session
        asks_in_b = await turn("b", "And you?")
        reply_in_b = await turn("b", "Tired.")
        full_width = await turn("c", "你好吗？")
        reply = await turn("c", "很好")
        found = {
            await insight("the lake answer", answer): asks,
            await insight("a distilled fact", after_answer, answer): asks,  # the first source
            await insight("no question before", after_answer): None,
            await insight("the first turn of a session", asks): None,
            await insight("a session answers only its own questions", first_of_b): None,
            await insight("the reply in the other session", reply_in_b): asks_in_b,
            await insight("full-width question mark", reply): full_width,
        }
    with psycopg.connect(url) as db:
        stored = dict(db.execute("SELECT id, question_id FROM l2_insights").fetchall())
    assert stored == found


async def turn_and_insight(conn, session: str, text: str) -> tuple[int, int]:
    """A raw turn and its insight, stored as compress_to_l2_insight does."""
    source, _ = await l0.insert_turn(conn, session, "Ann", text, {})
    words = await index_words.words_of(conn, [source], text, context_turns=0)
    row, _ = await l2.insert_insight(
        conn, content=text, embedding=await embed(text), embedding_model="hashing",
        source_ids=[source], fidelity_score=1.0, text_search_config="english",
        context=words.context, source_words=words.source_words, question_id=words.question_id,
    )  # fmt: skip
    return source, row


async def test_a_hit_gains_the_boost_times_the_score_of_the_question_it_answers(conn):
    asks, question = await turn_and_insight(conn, "chat", "What inspired your painting?")
    _, answer = await turn_and_insight(conn, "chat", "A painting trip to the lake")
    # A closer match to the search, answering nothing (its own session, no question).
    sea, other = await turn_and_insight(conn, "notes", "My painting of the sea")
    # A distilled insight citing the question among other turns is not the question.
    text = "Inspired painting: the painting of the sea inspired the painting"
    distilled, _ = await l2.insert_insight(
        conn, content=text, embedding=await embed(text), embedding_model="hashing",
        source_ids=[asks, sea], fidelity_score=1.0, text_search_config="english",
    )  # fmt: skip
    asked = query(
        "painting inspired", await embed("painting inspired"), top_k=4,
        semantic_weight=0.5, keyword_weight=0.5, text_search_config="english",
    )  # fmt: skip
    plain = {hit.id: hit for hit in await l2.hybrid_search(conn, **asked)}
    boosted = await l2.hybrid_search(conn, **asked, answer_boost=BOOST)
    by_id = {hit.id: hit for hit in boosted}
    assert plain[answer].score < plain[other].score  # without the boost, below `other`
    assert plain[distilled].score > plain[question].score  # and it lends nothing
    assert by_id[answer].score == pytest.approx(
        plain[answer].score + BOOST * plain[question].score, abs=1e-6
    )
    assert by_id[answer].score > by_id[other].score
    assert [hit.id for hit in boosted].index(answer) < [hit.id for hit in boosted].index(other)
    # Hits that answer no found question keep their score, and the branch figures stay.
    for row in (question, other, distilled):
        assert by_id[row].score == pytest.approx(plain[row].score, abs=1e-9)
    assert by_id[answer].semantic_score == plain[answer].semantic_score
    assert by_id[answer].keyword_score == plain[answer].keyword_score


async def test_a_question_that_is_not_found_lends_nothing(conn):
    await turn_and_insight(conn, "chat", "Do you like quiet mornings?")
    _, answer = await turn_and_insight(conn, "chat", "Yes, with tea by the window")
    # Keyword only: the question shares no word with the search, so it is not among the hits.
    asked = query(
        "tea window", await embed("tea window"), top_k=5,
        semantic_weight=0.0, keyword_weight=1.0, text_search_config="english",
    )  # fmt: skip
    plain = await l2.hybrid_search(conn, **asked)
    assert await l2.hybrid_search(conn, **asked, answer_boost=BOOST) == plain
    assert [hit.id for hit in plain] == [answer]


async def test_without_a_boost_the_statement_has_no_answer_step(conn):
    vector = await embed("x")
    on, _ = l2.hybrid_query(**query("x", vector, answer_boost=0.2))
    off, _ = l2.hybrid_query(**query("x", vector))
    on_text, off_text = on.as_string(conn), off.as_string(conn)
    assert "askers AS" in on_text and "question_id" in on_text
    assert "askers AS" not in off_text and "answers AS (SELECT * FROM fused)" in off_text


async def test_reindex_everything_gives_older_insights_their_question(conn, migrated_database):
    _, url = migrated_database
    asks, _ = await turn_and_insight(conn, "chat", "Where did you go?")
    _, answer = await turn_and_insight(conn, "chat", "To the coast")
    await conn.execute("UPDATE l2_insights SET question_id = NULL")  # as stored before 011
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        result = await reindex.reindex(
            db, context_turns=0, dimension=384, batch_size=10, everything=True
        )
    assert result.changed == 1  # the answer; the question's own row has nothing to change
    cursor = await conn.execute("SELECT question_id FROM l2_insights WHERE id = %s", [answer])
    assert (await cursor.fetchone())[0] == asks
