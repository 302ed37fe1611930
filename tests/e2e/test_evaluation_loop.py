"""The whole evaluation loop on a deployed throwaway host, both judges and the evaluator on a
local OpenAI-compatible server (on this machine's loopback, which the host shares).

store -> search -> evaluate (low reward -> Reflexion episode) -> judge 20 docs -> golden
bootstrap -> the drift check as cron runs it -> `judge evaluate` as cron runs it: every step's
rows in the production database, its cost rows in api_cost_log, and the checklist's
evaluation checks green. Uses the run's one deployed host (tests/e2e/conftest.py).
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from provisioning.settings import resolve
from tests.support.deployment import (
    as_service_user,
    checklist,
    deploy,
    journal,
    ping,
    production_query,
)
from tests.support.fake_model_servers import fake_model_server, judge_by_keyword

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SCRIPT = """
import anyio, json
from mcp_server.client import call_tool, connect
from mcp_server.config import load_settings

async def main():
    token = load_settings("production").secret("MCP_HTTP_TOKEN")
    out = {}
    async with connect(url=URL, token=token, environment="production") as client:
        turn = await call_tool(client, "store_raw_dialogue",
                               {"session_id": "e2e-eval", "speaker": "user", "content": "notes"})
        ids = []
        for i in range(20):
            topic = "green tea" if i % 2 == 0 else "cello practice"
            stored = await call_tool(client, "compress_to_l2_insight", {
                "content": f"Ana spoke about {topic} on day {i} of the course",
                "source_ids": [turn["id"]]})
            ids.append(stored["id"])
        out["ids"] = ids
        out["search"] = await call_tool(client, "hybrid_search", {"query_text": "green tea"})
        out["evaluation"] = await call_tool(client, "evaluate_answer", {
            "query": "what does Ana drink in the morning", "answer": "coffee",
            "memory_ids": ids[:2]})
        out["judged"] = await call_tool(client, "store_dual_judge_scores",
                                        {"query": "green tea", "docs": ids})
        [content] = (await client.read_resource(
            "memory://episode-memory?query=what%20does%20Ana%20drink%20in%20the%20morning"
            "&min_similarity=0.5")).contents
        out["episodes"] = json.loads(content.text)["episodes"]
    print(json.dumps(out))

anyio.run(main)
"""


def answer(body: dict) -> str:
    """The evaluator, Reflexion and both judges, by the system prompt they were sent."""
    system = " ".join(
        m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system"
    )
    if "You evaluate" in system:
        return json.dumps({"reward": -0.5, "reason": "the memories say green tea"})
    if "lesson" in system:
        return json.dumps({"problem": "ignored the memories", "lesson": "say green tea"})
    return judge_by_keyword("tea")(body)


@pytest.fixture(scope="module")
def models():
    with fake_model_server() as server:
        server.reply = answer
        yield server


@pytest.fixture(scope="module")
def evaluating(deployment, models):
    """The shared host, deployed with evaluation on and every model on the local server."""
    data = {"cogmem_evaluation_enabled": "true"}
    for who, model in (("evaluator", "local-evaluator"), ("judge1", "local-judge-a"),
                       ("judge2", "local-judge-b")):  # fmt: skip
        data |= {f"cogmem_{who}_provider": "openai", f"cogmem_{who}_model": model,
                 f"cogmem_{who}_base_url": models.base_url}  # fmt: skip
    started = time.monotonic()
    result = deploy(deployment.inventory, *(f"{k}={v}" for k, v in data.items()))
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    settings = resolve({**deployment.settings, **data})
    evaluating = dataclasses.replace(deployment, settings=settings)
    ready = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ready:
        ready = (p := ping(evaluating)) and p["status"] == "ok"
        time.sleep(0.5)
    assert ready, journal(deployment.host)
    print(f"\nevaluation deploy: {time.monotonic() - started:.1f} s")
    return evaluating


def counts(deployment, table_query: str) -> dict[str, int]:
    rows = production_query(deployment, table_query)
    return {name: int(n) for name, n in (line.split("|") for line in rows.splitlines() if line)}


def test_the_whole_loop_writes_its_rows_and_costs(evaluating, models):
    s = evaluating.settings
    prefix = s["cogmem_prefix"]
    url = f"http://{s['cogmem_http_host']}:{s['cogmem_http_port']}/mcp"
    before = counts(evaluating, "SELECT api_name, count(*) FROM api_cost_log GROUP BY 1")
    script = f"URL = {url!r}\n" + SCRIPT
    result = as_service_user(evaluating, f"{prefix}/venv/bin/python", "-c", script)
    assert result.returncode == 0, result.stderr[-3000:] + journal(evaluating.host)
    out = json.loads(result.stdout)

    # Search found the tea insights; the low reward left a lesson that a similar query finds.
    assert out["search"]["results"][0]["id"] in out["ids"][0::2]
    evaluation = out["evaluation"]
    assert evaluation["reward"] == -0.5 and evaluation["episode_id"]
    assert [e["id"] for e in out["episodes"]] == [evaluation["episode_id"]]
    # Both judges agree on every doc: kappa 1 over 20 pairs; the tea ones are relevant.
    judged = out["judged"]
    assert (judged["kappa"], judged["pairs"]) == (1.0, 20)
    assert judged["relevant_ids"] == out["ids"][0::2]

    # The golden set from ground truth, then the drift check exactly as cron runs it.
    golden = as_service_user(evaluating, f"{prefix}/venv/bin/cognitive-memory", "golden",
                             "bootstrap")  # fmt: skip
    assert golden.returncode == 0 and "bootstrapped 1 new" in golden.stdout, golden.stderr
    drift = as_service_user(evaluating, f"{prefix}/venv/bin/python", "-m",
                            "mcp_server.monitoring.drift_check")  # fmt: skip
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "precision@5 1.000" in drift.stdout  # 5 of the 10 tea insights fill the top 5
    staged = as_service_user(evaluating, f"{prefix}/venv/bin/python",
                             f"{prefix}/bin/staged_dual_judge_cli.py", "--evaluate")  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    assert "ready for phase 2" in staged.stdout

    tables = counts(evaluating, """
        SELECT 'evaluation_log', count(*) FROM evaluation_log WHERE episode_id IS NOT NULL
        UNION ALL SELECT 'ground_truth', count(*) FROM ground_truth WHERE kappa = 1
        UNION ALL SELECT 'golden_test_set', count(*) FROM golden_test_set
        UNION ALL SELECT 'model_drift_log', count(*) FROM model_drift_log
        UNION ALL SELECT 'episode_memory', count(*) FROM episode_memory""")  # fmt: skip
    assert all(n >= 1 for n in tables.values()), tables
    after = counts(evaluating, "SELECT api_name, count(*) FROM api_cost_log GROUP BY 1")
    added = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: added.get(k) for k in ("evaluation", "reflexion", "judge")} == {
        "evaluation": 1, "reflexion": 1, "judge": 40}  # fmt: skip
    chat = [r for r in models.requests if r.path.endswith("/chat/completions")]
    assert len(chat) >= 42  # every row above is a call the local server answered


def test_the_checklist_evaluation_checks_are_green(evaluating):
    result = checklist(evaluating, "-k", "test_10_evaluation")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 failed" in result.stdout
