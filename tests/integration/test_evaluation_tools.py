"""The evaluation tools through the official MCP client, with the real openai and anthropic
SDKs talking to a local server in their wire formats, on the real database."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest

from mcp_server.providers import costs as cost_module
from tests.support.evaluation import evaluation_settings, with_section
from tests.support.fake_model_servers import (
    CHAT,
    MESSAGES,
    fake_model_server,
    judge_by_keyword,
    prompt_of,
)
from tests.support.mcp import call, connect

pytestmark = pytest.mark.anyio

TEA = ["Ana drinks green tea every morning", "Tea from Darjeeling is Ana's favourite",
       "Ben plays the cello in an orchestra", "Carla adopted a grey cat named Pixel"]  # fmt: skip


@pytest.fixture
def server():
    with fake_model_server() as fake:
        fake.reply = judge_by_keyword("tea")
        yield fake


@pytest.fixture
def database(migrated_database, server):
    settings, url = migrated_database
    return evaluation_settings(settings, server), url


@pytest.fixture
async def client(database):
    async with connect(*database) as connected:
        yield connected


async def refused(client, tool, **arguments) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def insights(client, texts=TEA) -> list[int]:
    turn = await call(client, "store_raw_dialogue", session_id="s", speaker="user", content="x")
    ids = []
    for text in texts:
        stored = await call(client, "compress_to_l2_insight", content=text, source_ids=[turn["id"]])
        ids.append(stored["id"])
    return ids


def rows(url, statement, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def costs(url) -> dict[str, int]:
    return dict(rows(url, "SELECT api_name, sum(num_calls)::int FROM api_cost_log GROUP BY 1"))


# The dual judge ---------------------------------------------------------------------------


async def test_both_judges_score_every_doc_and_kappa_goes_to_ground_truth(client, database, server):
    _, url = database
    ids = await insights(client)
    # Judge 2 (Anthropic) disagrees on the cello: 4 docs, 3 agree.
    server.reply = lambda body: json.dumps({"score": 0.9 if (
        "tea" in prompt_of(body).split("document:")[-1].lower()
        or (body.get("system") and "cello" in prompt_of(body))) else 0.1})  # fmt: skip
    seen = []

    async def progress(done, total, message):
        seen.append((done, total))

    result = await client.call_tool(
        "store_dual_judge_scores",
        {"query": "what tea does Ana like", "docs": [*ids, "a text about green tea"],
         "query_id": "q-1"},
        progress_callback=progress,
    )  # fmt: skip
    assert not result.is_error, result.content
    judged = result.structured_content
    assert judged["judge1_scores"] == [0.9, 0.9, 0.1, 0.1, 0.9]
    assert judged["judge2_scores"] == [0.9, 0.9, 0.9, 0.1, 0.9]
    # Hand-computed: po = 4/5; judge 1 says yes 3/5, judge 2 4/5;
    # pe = 3/5*4/5 + 2/5*1/5 = 14/25; kappa = (20/25 - 14/25) / (11/25) = 6/11.
    assert judged["kappa"] == pytest.approx(6 / 11)
    assert judged["raw_agreement"] == pytest.approx(0.8)
    assert judged["relevant_ids"] == ids[:2]  # the text has no id; the cello is one judge's yes
    assert (judged["judge1_model"], judged["judge2_model"]) == ("gpt-4o", "claude-3-5-haiku-latest")
    [row] = rows(url, "SELECT query_id, judge1_scores, judge2_scores, kappa, expected_docs, docs, "
                      "phase FROM ground_truth")  # fmt: skip
    assert row[0] == "q-1" and row[3] == pytest.approx(6 / 11, abs=1e-6)
    assert row[4] == ids[:2] and row[6] == "dual"
    assert row[5][-1] == {"text": "a text about green tea"}
    assert costs(url) == {"judge": 10}  # 5 docs x 2 judges, each a cost row
    assert seen and seen[-1] == (10, 10)


async def test_a_malformed_judge_answer_is_missing_never_zero(client, database, server):
    _, url = database
    ids = await insights(client, TEA[:2])
    server.plan(text="I think it is quite relevant!", path=CHAT)
    judged = await call(client, "store_dual_judge_scores", query="tea", docs=ids)
    assert judged["judge1_scores"].count(None) == 1
    assert 0.0 not in judged["judge1_scores"]
    assert judged["pairs"] == 1
    [(scores,)] = rows(url, "SELECT judge1_scores FROM ground_truth")
    assert None in scores and 0.0 not in scores
    assert costs(url)["judge"] == 4  # the unreadable answer was still a paid call


async def test_a_429_storm_fails_clearly_stores_nothing_and_charges_only_answered_calls(
    database, server
):
    settings, url = database
    # One call in flight: judge 1's docs in order, so the storm's place is known.
    settings = with_section(settings, "evaluation", judge_concurrency=1)
    server.plan(path=CHAT, times=2)  # two answers, then the OpenAI judge is rate limited
    server.plan(429, headers={"retry-after": "0"}, path=CHAT, times=100)
    async with connect(settings, url) as client:
        ids = await insights(client)
        message = await refused(client, "store_dual_judge_scores", query="tea", docs=ids)
    assert "gpt-4o" in message and "HTTP 429" in message and "3 attempt(s)" in message
    assert "nothing was stored" in message
    assert rows(url, "SELECT count(*) FROM ground_truth") == [(0,)]
    assert len(server.requests_to(CHAT)) == 2 + 3  # two answers, three refused attempts
    assert server.requests_to(MESSAGES) == []  # cancelled before judge 2 began
    assert costs(url) == {"judge": 2}  # the answered calls, none of the refused ones


async def test_unknown_insight_ids_are_refused_before_any_model_call(client, server):
    message = await refused(client, "store_dual_judge_scores", query="tea", docs=[987654])
    assert "987654" in message and "nothing was stored" in message
    assert server.requests_to(CHAT) == [] and server.requests_to(MESSAGES) == []


async def test_phase_2_scores_with_one_judge_and_spot_checks(database, server):
    settings, url = database
    settings = with_section(settings, "staged_dual_judge", spot_check_rate=1.0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO judge_phase_events (phase, event, reason) "
                     "VALUES ('single', 'transition', 'test')")  # fmt: skip
    async with connect(settings, url) as client:
        ids = await insights(client, TEA[:3])
        judged = await call(client, "store_dual_judge_scores", query="tea", docs=ids)
    assert judged["phase"] == "single"
    assert costs(url) == {"judge": 3, "spot_check": 3}  # rate 1.0: every doc spot-checked
    settings = with_section(settings, "staged_dual_judge", spot_check_rate=0.0)
    async with connect(settings, url) as client:
        judged = await call(client, "store_dual_judge_scores", query="tea", docs=ids)
    assert judged["judge2_scores"] == [None, None, None]
    assert judged["relevant_ids"] == ids[:2]  # judge 1 alone decides where none spot-checked


# The evaluator and Reflexion ---------------------------------------------------------------


def evaluator_reply(reward: float):
    def reply(body: dict) -> str:
        if "problem" in (body.get("system") or ""):
            lesson = "Check memory for Ana's tea preference first"
            return json.dumps({"problem": "The answer ignored the memory", "lesson": lesson})
        return json.dumps({"reward": reward, "reason": "contradicts the memory"})

    return reply


async def test_a_low_reward_writes_a_lesson_that_a_similar_query_finds_again(
    client, database, server
):
    _, url = database
    ids = await insights(client, TEA[:1])
    server.reply = evaluator_reply(-0.6)
    result = await call(client, "evaluate_answer", query="which tea does Ana drink",
                        answer="Ana drinks coffee", memory_ids=ids)  # fmt: skip
    assert result["reward"] == -0.6 and result["episode_id"] is not None
    assert "tea preference" in result["lesson"]["lesson"]
    [content] = (
        await client.read_resource(
            "memory://episode-memory?query=what tea does Ana drink&min_similarity=0.5"
        )
    ).contents
    found = json.loads(content.text)["episodes"]
    assert [e["id"] for e in found] == [result["episode_id"]]
    assert "Lesson: Check memory" in found[0]["reflection"]
    [log] = rows(url, "SELECT reward, memory_ids, episode_id, model FROM evaluation_log")
    assert log == (pytest.approx(-0.6), ids, result["episode_id"], "claude-3-5-haiku-latest")
    assert costs(url) == {"evaluation": 1, "reflexion": 1}


async def test_a_good_answer_is_logged_without_a_lesson(client, database, server):
    _, url = database
    server.reply = evaluator_reply(0.8)
    result = await call(client, "evaluate_answer", query="q", answer="a")
    assert result["episode_id"] is None and result["lesson"] is None
    assert rows(url, "SELECT count(*) FROM episode_memory") == [(0,)]
    assert costs(url) == {"evaluation": 1}


async def test_an_unreadable_evaluation_stores_nothing(client, database, server):
    _, url = database
    server.reply = "reward: high"
    message = await refused(client, "evaluate_answer", query="q", answer="a")
    assert "did not answer with" in message and "nothing was stored" in message
    assert rows(url, "SELECT count(*) FROM evaluation_log") == [(0,)]


async def test_evaluation_tools_say_how_to_enable_them(migrated_database, server):
    settings, url = migrated_database
    async with connect(settings, url) as client:
        message = await refused(client, "evaluate_answer", query="q", answer="a")
        assert "not configured" in message and "evaluation.enabled: true" in message
        message = await refused(client, "store_dual_judge_scores", query="q", docs=["d"])
        assert "not configured" in message
    assert server.requests == []


# The hard stop ------------------------------------------------------------------------------


async def test_the_hard_stop_refuses_paid_calls_once_the_budget_is_spent(
    database, server, caplog, monkeypatch
):
    settings, url = database
    settings = with_section(settings, "budget", hard_stop=True, monthly_limit_eur=1.0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO api_cost_log (api_name, num_calls, token_count, "
                     "estimated_cost) VALUES ('judge', 1, 100, 1.25)")  # fmt: skip
    server.reply = evaluator_reply(0.8)
    monkeypatch.setattr(cost_module, "_refusals_logged", set())
    caplog.set_level(logging.ERROR, logger="mcp_server.providers.costs")
    async with connect(settings, url) as client:
        for _ in range(2):
            message = await refused(client, "evaluate_answer", query="q", answer="a")
            assert "1.2500 EUR" in message and "1.00 EUR" in message
            assert "budget.hard_stop" in message
    assert server.requests == []  # refused before the wire
    assert rows(url, "SELECT count(*) FROM api_cost_log") == [(1,)]
    refusals = [r for r in caplog.records if "budget.hard_stop" in r.getMessage()]
    assert len(refusals) == 1  # two refusals, logged once


# Golden results ------------------------------------------------------------------------------


async def test_golden_results_come_from_the_drift_log(client, database):
    _, url = database
    empty = await call(client, "get_golden_test_results")
    assert empty == {"latest": None, "trend": [], "mean_precision_at_5": None}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO model_drift_log (date, precision_at_5, recall_at_5, mrr, num_queries) "
            "VALUES (current_date - 1, 0.4, 0.8, 0.9, 5), (current_date, 0.2, 0.6, 0.5, 5)"
        )
    results = await call(client, "get_golden_test_results", days=7)
    assert results["latest"]["precision_at_5"] == pytest.approx(0.2)
    assert [r["mrr"] for r in results["trend"]] == [pytest.approx(0.5), pytest.approx(0.9)]
    assert results["mean_precision_at_5"] == pytest.approx(0.3)
