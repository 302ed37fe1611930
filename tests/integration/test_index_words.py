"""What an insight is found by besides its content: when its turns were said, the turns around
them (weighted less), and the source turns a distilled insight does not quote (migration 005).

Through the official MCP client where a client would see it, on the real database.
"""

from __future__ import annotations

import psycopg
import pytest
from mcp import Client

from mcp_server.memory import index_words, l0, l2
from mcp_server.providers.hashing import HashingEmbedder
from tests.support.mcp import call, connect

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(migrated_database):
    async with connect(*migrated_database) as connected:
        yield connected


async def remember(client: Client, session: str, speaker: str, text: str, **when) -> int:
    """Store a turn and its raw-turn insight as a client does; returns the insight id."""
    turn = await call(
        client, "store_raw_dialogue", session_id=session, speaker=speaker, content=text, **when
    )
    insight = await call(
        client, "compress_to_l2_insight", content=f"{speaker}: {text}", source_ids=[turn["id"]]
    )
    return insight["id"]


async def search(client: Client, text: str) -> list[dict]:
    return (await call(client, "hybrid_search", query_text=text, top_k=10))["results"]


# The time a turn was said ---------------------------------------------------------------


async def test_a_given_time_is_stored_and_a_question_naming_its_month_finds_the_turn(
    client, migrated_database
):
    _, url = migrated_database
    dated = await remember(
        client, "trip", "Nate", "We adopted a puppy called Max!",
        occurred_at="2022-05-14T19:31:00+02:00",
    )  # fmt: skip
    undated = await remember(client, "trip", "Joanna", "Congrats, what a cute dog!")
    with psycopg.connect(url) as db:
        stored = db.execute(
            "SELECT occurred_at AT TIME ZONE 'UTC' FROM l0_raw ORDER BY id LIMIT 1"
        ).fetchone()[0]
    assert stored.isoformat() == "2022-05-14T17:31:00"
    hits = await search(client, "What happened in May 2022?")
    by_id = {hit["id"]: hit for hit in hits}
    assert hits[0]["id"] == dated and by_id[dated]["keyword_rank"] == 1
    # Stored now, the other turn carries today's date: not May 2022.
    assert undated not in by_id or by_id[undated]["keyword_rank"] != 1
    # The weekday is searchable too (14 May 2022 was a Saturday).
    assert (await search(client, "saturday"))[0]["id"] == dated


async def test_without_a_time_the_turn_is_dated_when_it_was_stored(client, conn):
    turn = await call(client, "store_raw_dialogue", session_id="s", speaker="u", content="hi")
    assert turn["occurred_at"] is None
    today = await (await conn.execute("SELECT to_char(now(), 'FMMonth YYYY')")).fetchone()
    words = await index_words.words_of(conn, [turn["id"]], "u: hi", context_turns=2)
    assert today[0] in words.source_words


async def test_an_offset_less_time_is_utc_and_echoed(client):
    turn = await call(
        client, "store_raw_dialogue", session_id="s", speaker="u", content="hi",
        occurred_at="2023-05-08 13:56",
    )  # fmt: skip
    assert turn["occurred_at"].startswith("2023-05-08T13:56:00")
    assert turn["occurred_at"].endswith(("Z", "+00:00"))


# The turns around an insight -----------------------------------------------------------


async def test_the_answer_is_found_by_the_question_before_it_and_the_question_by_its_answer(
    client,
):
    question = await remember(client, "s", "Caroline", "Did you go to the pottery workshop?")
    answer = await remember(client, "s", "Melanie", "Yes, last Sunday, it was lovely.")
    await remember(client, "other", "Melanie", "Sunday brunch is my favourite.")
    # "pottery" is only in the question turn: the answer ranks by its context.
    hits = await search(client, "pottery")
    assert {hit["id"] for hit in hits} == {question, answer}
    assert hits[0]["id"] == question  # the word itself outweighs the context
    # "lovely" is only in the answer, stored after the question's insight: storing the
    # answer turn refreshed the question's context.
    assert {hit["id"] for hit in await search(client, "lovely")} == {answer, question}


async def test_context_is_the_neighbouring_turns_of_the_same_session(conn):
    spoken = [("s", "user", f"turn {n}") for n in range(6)]
    spoken.insert(3, ("elsewhere", "user", "another session"))
    ids = [(await l0.insert_turn(conn, *turn, {}))[0] for turn in spoken]
    middle = ids[4]  # "turn 3"
    words = await index_words.words_of(conn, [middle], "user: turn 3", context_turns=2)
    assert words.context.splitlines() == ["turn 1", "turn 2", "turn 4", "turn 5"]
    assert (await index_words.words_of(conn, [middle], "x", context_turns=0)).context == ""


async def test_a_distilled_insight_keeps_its_unquoted_sources_at_full_weight(conn):
    stamp = "2023-01-20 16:04+00"
    turns = [
        ("s", "user", "Did you go to the climbing gym?"),
        ("s", "assistant", "Yes, it was great!"),
        ("s", "user", "I also bought new shoes."),
        ("s", "assistant", "Nice."),
    ]
    ids = [(await l0.insert_turn(conn, *t, {}, occurred_at=stamp))[0] for t in turns]
    words = await index_words.words_of(
        conn, [ids[2], ids[1]], "The user climbs and got shoes", context_turns=1
    )
    assert words.source_words.splitlines() == [
        "assistant: Yes, it was great!",
        "user: I also bought new shoes.",
        "20 January 2023 Friday",
    ]
    assert words.context.splitlines() == ["Did you go to the climbing gym?", "Nice."]


async def test_a_new_turn_refreshes_the_context_of_the_insights_just_before_it(conn):
    async def turn(text: str) -> int:
        return (await l0.insert_turn(conn, "s", "user", text, {}))[0]

    async def insight_of(source: int, content: str) -> int:
        words = await index_words.words_of(conn, [source], content, context_turns=2)
        row, _ = await l2.insert_insight(
            conn, content=content, embedding=await embed(content), embedding_model="hashing",
            source_ids=[source], fidelity_score=1.0, text_search_config="english",
            context=words.context, source_words=words.source_words,
        )  # fmt: skip
        return row

    first = await insight_of(await turn("one"), "one")
    assert await index_words.refresh_context_before(conn, await turn("two"), 2) == 1
    assert await index_words.refresh_context_before(conn, await turn("three"), 2) == 1
    assert await index_words.refresh_context_before(conn, await turn("four"), 2) == 0
    context = await (
        await conn.execute("SELECT context FROM l2_insights WHERE id = %s", [first])
    ).fetchone()
    assert context[0].splitlines() == ["two", "three"]  # not four: too far


async def embed(text: str) -> list[float]:
    [vector] = await HashingEmbedder(dimension=384).embed([text])
    return vector


async def test_a_context_word_counts_context_weight_of_a_content_word(conn):
    async def add(content: str, context: str) -> int:
        row, _ = await l2.insert_insight(
            conn, content=content, embedding=await embed(content), embedding_model="hashing",
            source_ids=[], fidelity_score=1.0, text_search_config="english", context=context,
        )  # fmt: skip
        return row

    own = await add("climbing gym", "pasta lunch")
    around = await add("pasta lunch", "climbing gym")
    await add("unrelated words", "nothing here")

    async def scores(weight: float) -> dict[int, float]:
        hits = await l2.hybrid_search(
            conn, query_text="climbing", embedding=await embed("climbing"), top_k=5,
            semantic_weight=0.0, keyword_weight=1.0, rrf_k=60, candidates=100,
            text_search_config="english", context_weight=weight,
        )  # fmt: skip
        return {hit.id: hit.keyword_score for hit in hits}

    equal = await scores(1.0)
    assert equal[own] == pytest.approx(equal[around])
    half = await scores(0.5)
    assert half[own] > half[around] > 0
    assert set(await scores(0.0)) == {own}  # weight 0: context words count for nothing
