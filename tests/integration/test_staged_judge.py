"""The staged dual judge: transition at high kappa, revert on low spot-check kappa, on a clock
the test controls; the cost of each phase from api_cost_log; the command line around it."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from mcp_server.cli import app
from mcp_server.evaluation import staged_judge
from tests.support.evaluation import point_cli_at, with_section

T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
AGREE = ([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2])
DISAGREE = ([1, 0, 1, 0], [0, 1, 1, 0])  # kappa 0


def judged(conn, when, scores, phase="dual", rows=1):
    for _ in range(rows):
        conn.execute(
            "INSERT INTO ground_truth (query, docs, judge1_scores, judge2_scores, phase, "
            "created_at) VALUES ('q', %s, %s::real[], %s::real[], %s, %s)",
            [Jsonb([{"text": "d"}] * 4), scores[0], scores[1], phase, when],
        )


def spent(conn, when, api_name, eur):
    conn.execute(
        "INSERT INTO api_cost_log (date, api_name, num_calls, token_count, estimated_cost, "
        "created_at) VALUES (%s, %s, 1, 100, %s, %s)",
        [when.date(), api_name, eur, when],
    )


@pytest.fixture
def conn(migrated_database):
    _, url = migrated_database
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def test_phase_1_moves_to_phase_2_only_when_applied_and_reverts_on_low_spot_checks(
    conn, migrated_database
):
    settings, _ = migrated_database
    judged(conn, T0 - dt.timedelta(days=3), DISAGREE, rows=2)  # older: outside the window
    judged(conn, T0 - dt.timedelta(days=2), AGREE, rows=10)
    settings = with_section(settings, "staged_dual_judge", window_rows=10, min_pairs=20)

    before = staged_judge.evaluate(conn, settings, T0)
    assert before.action == "recommend" and "--apply" in before.message
    assert before.status.agreement.kappa == 1.0 and before.status.progress == 1.0
    assert staged_judge.current_phase(conn).name == "dual"  # nothing changed without --apply

    moved = staged_judge.evaluate(conn, settings, T0, apply=True)
    assert moved.action == "transition"
    assert staged_judge.current_phase(conn) == staged_judge.Phase("single", T0)

    # Spot checks that disagree, five days in.
    judged(conn, T0 + dt.timedelta(days=5), DISAGREE, phase="single", rows=6)
    late = staged_judge.evaluate(conn, settings, T0 + dt.timedelta(days=40))
    assert late.action == "none" and late.status.agreement.pairs == 0  # outside 30 days
    assert staged_judge.current_phase(conn).name == "single"

    low = staged_judge.status(conn, settings, T0 + dt.timedelta(days=10))
    assert (low.health, low.agreement.kappa, low.agreement.pairs) == ("LOW", 0.0, 24)
    reverted = staged_judge.evaluate(conn, settings, T0 + dt.timedelta(days=10))
    assert reverted.action == "revert" and "kappa_fallback 0.7" in reverted.message
    assert staged_judge.current_phase(conn) == staged_judge.Phase(
        "dual", T0 + dt.timedelta(days=10)
    )
    events = conn.execute(
        "SELECT phase, event, pairs, created_at FROM judge_phase_events ORDER BY id"
    ).fetchall()
    assert events == [("single", "transition", 40, T0),
                      ("dual", "revert", 24, T0 + dt.timedelta(days=10))]  # fmt: skip


def test_too_few_pairs_decide_nothing(conn, migrated_database):
    settings, _ = migrated_database
    judged(conn, T0, AGREE, rows=2)  # 8 pairs < min_pairs 20
    decision = staged_judge.evaluate(conn, settings, T0, apply=True)
    assert decision.action == "none" and "8 doc pairs" in decision.message
    assert conn.execute("SELECT count(*) FROM judge_phase_events").fetchone() == (0,)


def test_healthy_spot_checks_keep_phase_2(conn, migrated_database):
    settings, _ = migrated_database
    conn.execute("INSERT INTO judge_phase_events (phase, event, reason, created_at) "
                 "VALUES ('single', 'transition', 'test', %s)", [T0])  # fmt: skip
    judged(conn, T0 + dt.timedelta(days=1), AGREE, phase="single", rows=6)
    decision = staged_judge.evaluate(conn, settings, T0 + dt.timedelta(days=2))
    assert decision.action == "none" and decision.status.health == "HEALTHY"


def test_status_shows_the_cost_per_judged_doc_of_each_phase(conn, migrated_database):
    settings, _ = migrated_database
    judged(conn, T0 - dt.timedelta(days=1), AGREE, rows=10)  # 40 docs in phase 1
    spent(conn, T0 - dt.timedelta(days=1), "judge", 0.04)
    spent(conn, T0 - dt.timedelta(days=1), "openai_embeddings", 5.0)  # not a judge cost
    conn.execute("INSERT INTO judge_phase_events (phase, event, reason, created_at) "
                 "VALUES ('single', 'transition', 'test', %s)", [T0])  # fmt: skip
    judged(conn, T0 + dt.timedelta(days=1), AGREE, phase="single", rows=5)  # 20 docs
    spent(conn, T0 + dt.timedelta(days=1), "judge", 0.01)
    spent(conn, T0 + dt.timedelta(days=1), "spot_check", 0.002)
    current = staged_judge.status(conn, settings, T0 + dt.timedelta(days=2))
    per_doc = {c.phase: c.per_doc_eur for c in current.costs}
    assert per_doc["dual"] == pytest.approx(0.001)  # 0.04 / 40
    assert per_doc["single"] == pytest.approx(0.0006)  # 0.012 / 20
    assert current.saving == pytest.approx(0.4)


# The command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(migrated_database, config_dir, monkeypatch):
    return point_cli_at(migrated_database, config_dir, monkeypatch)


def cli(*args, code=0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_judge_status_and_evaluate_from_the_command_line(conn, cli_env):
    judged(conn, dt.datetime.now(dt.UTC), AGREE, rows=6)
    status = json.loads(cli("judge", "status", "--json"))
    assert (status["phase"], status["kappa"], status["pairs"]) == ("dual", 1.0, 24)
    assert "progress to 0.85" in cli("judge", "status")
    assert "run with --apply" in cli("judge", "evaluate")
    assert "moved to phase 2" in cli("judge", "evaluate", "--apply")
    assert "phase 2: one judge + spot checks" in cli("judge", "status")


def test_a_human_correction_wins_over_the_judges(conn, cli_env):
    insight = conn.execute(
        "INSERT INTO l2_insights (content, embedding, embedding_model) "
        "VALUES ('tea', '[1,0]', 'm') RETURNING id"
    ).fetchone()[0]
    row = conn.execute(
        "INSERT INTO ground_truth (query, docs, judge1_scores, judge2_scores, expected_docs) "
        "VALUES ('tea?', %s, '{0.9,0.9}', '{0.9,0.2}', %s) RETURNING id",
        [Jsonb([{"id": insight}, {"text": "x"}]), [insight]],
    ).fetchone()[0]
    assert "relevant insight ids: none" in cli("judge", "correct", str(row), "0,1")
    assert conn.execute("SELECT expected_docs, human_scores FROM ground_truth").fetchone() == (
        [], [0.0, 1.0])  # fmt: skip
    out = cli("judge", "correct", str(row), "1", code=2)
    assert "give 2 scores" in out
    assert "no ground_truth row 999" in cli("judge", "correct", "999", "1,1", code=2)


def test_the_seed_script_is_a_thin_wrapper(conn, cli_env):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    judged(conn, dt.datetime.now(dt.UTC), AGREE, rows=6)
    script = [sys.executable, str(REPO / "scripts" / "staged_dual_judge_cli.py")]
    env = {**os.environ, "COGMEM_LOG_LEVEL": "WARNING"}
    status = subprocess.run([*script, "--status", "--json"], capture_output=True, text=True,
                            env=env, timeout=60)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pairs"] == 24
    evaluated = subprocess.run([*script, "--evaluate"], capture_output=True, text=True, env=env,
                               timeout=60)  # fmt: skip
    assert evaluated.returncode == 0 and "run with --apply" in evaluated.stdout
    usage = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60)
    assert usage.returncode == 2 and "--status" in usage.stderr
