"""The golden set (command line) and the daily drift check: precision@5, recall@5 and MRR
against the recent baseline, alerts by mail, and exit codes cron can tell apart."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector, register_vector_async
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from mcp_server.cli import app
from mcp_server.monitoring import drift_check
from mcp_server.providers.hashing import HashingEmbedder
from tests.support.evaluation import point_cli_at
from tests.support.net import free_port
from tests.support.ops import Mailbox

FACTS = [
    "Ana drinks green tea every morning",
    "Ben plays the cello in an orchestra",
    "Carla adopted a grey cat named Pixel",
    "Dan is training for the Lisbon marathon",
]


def seed_insights(url) -> list[int]:
    embedder = HashingEmbedder("hashing-lexical-v1", 384)
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        return [
            conn.execute(
                "INSERT INTO l2_insights (content, embedding, embedding_model) "
                "VALUES (%s, %s, %s) RETURNING id",
                [fact, Vector(vector), embedder.model],
            ).fetchone()[0]
            for fact, vector in zip(FACTS, embedder.embed_sync(FACTS), strict=True)
        ]


def history(url, *precisions) -> None:
    """Drift log rows for the days before today, newest first."""
    with psycopg.connect(url, autocommit=True) as conn:
        for days_ago, p5 in enumerate(precisions, 1):
            conn.execute(
                "INSERT INTO model_drift_log (date, precision_at_5, num_queries) "
                "VALUES (current_date - %s, %s, 2)",
                [days_ago, p5],
            )


@pytest.fixture
def cli_env(migrated_database, config_dir, monkeypatch):
    return point_cli_at(migrated_database, config_dir, monkeypatch)


def cli(*args, code=0, stdin=None):
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == code, result.output
    return result.output


# Metrics ---------------------------------------------------------------------------------------


def test_metrics_by_hand():
    found = [7, 3, 9, 1, 4, 8]
    assert drift_check.precision_at_k(found, [3, 8]) == 0.2  # 8 is sixth: outside the top 5
    assert drift_check.recall_at_k(found, [3, 8]) == 0.5
    assert drift_check.reciprocal_rank(found, [9, 3]) == 0.5
    assert drift_check.reciprocal_rank(found, [42]) == 0.0


def test_drift_is_flagged_on_a_constructed_history(migrated_database):
    settings, url = migrated_database
    ids = seed_insights(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for query, target in (("green tea", ids[0]), ("cello orchestra", ids[1])):
            conn.execute("INSERT INTO golden_test_set (query, expected_docs) VALUES (%s, %s)",
                         [query, [target]])  # fmt: skip
    embedder = HashingEmbedder("hashing-lexical-v1", 384)

    async def measure():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await register_vector_async(conn)
            return await drift_check.measure(conn, settings, embedder)

    # Each query finds its one fact first: p@5 = 1/5, recall 1, MRR 1.
    history(url, 0.22, 0.2, 0.18, 0.2, 0.2, 0.2, 0.2, 0.9)  # the 8th day is past the baseline
    stable = anyio.run(measure)
    assert (stable.precision_at_5, stable.recall_at_5, stable.mrr) == (0.2, 1.0, 1.0)
    assert stable.baseline_p5 == pytest.approx(0.2) and not stable.drift_detected

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE model_drift_log SET precision_at_5 = 0.26")  # better days
    drifted = anyio.run(measure)
    assert drifted.baseline_p5 == pytest.approx(0.26) and drifted.drift_detected  # 0.2 < 0.21
    tolerant = settings.model_copy(
        update={"drift": settings.drift.model_copy(update={"tolerance": 0.1})}
    )

    async def measure_tolerant():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await register_vector_async(conn)
            return await drift_check.measure(conn, tolerant, embedder)

    assert not anyio.run(measure_tolerant).drift_detected


def test_the_cron_entry_point_exits_1_on_drift_and_alerts_by_mail(cli_env, monkeypatch, capsys):
    ids = seed_insights(cli_env)
    cli("golden", "add", "green tea", "--expected", str(ids[0]))
    assert drift_check.main([]) == 0  # first run: no baseline yet
    assert "baseline none yet" in capsys.readouterr().out
    with psycopg.connect(cli_env, autocommit=True) as conn:
        conn.execute("UPDATE model_drift_log SET date = current_date - 1, precision_at_5 = 0.6")
    with Mailbox() as mailbox:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(mailbox.port))
        monkeypatch.setenv("ALERT_EMAIL_TO", "owner@example.org")
        assert drift_check.main(["--json"]) == 1
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["drift_detected"] and result["alerted_via"] == ["email"]
    assert "DRIFT" in mailbox.messages[0].as_string()
    with psycopg.connect(cli_env) as conn:
        assert conn.execute("SELECT count(*) FROM model_drift_log").fetchone() == (2,)


def test_an_error_is_exit_2_with_one_line(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert drift_check.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Cannot connect to the database")
    assert "Traceback" not in "\n".join(err)


def test_an_empty_golden_set_is_not_drift(cli_env, capsys):
    assert drift_check.main([]) == 0
    assert "golden test set is empty" in capsys.readouterr().out


# The golden set from the command line -----------------------------------------------------------


def test_golden_add_list_export_import_remove(cli_env):
    ids = seed_insights(cli_env)
    assert "added golden entry" in cli("golden", "add", "green tea", "--expected", str(ids[0]))
    assert "already in the golden set" in cli(
        "golden", "add", "green tea", "--expected", str(ids[1]), code=2
    )
    assert "unknown insight ids" in cli("golden", "add", "x", "--expected", "999999", code=2)
    assert "query_type must be one of" in cli(
        "golden", "add", "x", "--expected", str(ids[0]), "--type", "huge", code=2
    )
    exported = cli("golden", "export")
    assert json.loads(exported) == {"query": "green tea", "expected_docs": [ids[0]],
                                    "query_type": "short"}  # fmt: skip
    lines = (
        json.dumps({"query": "green tea", "expected_docs": [ids[0], ids[1]]}) + "\n"
        + json.dumps({"query": "who is training for a marathon in Lisbon this spring",
                      "expected_docs": [ids[3]]}) + "\n"
    )  # fmt: skip
    assert "imported 1 new, updated 1" in cli("golden", "import", "-", stdin=lines)
    bad = lines + '{"query": "q", "expected_docs": []}\n'
    assert "line 3: expected_docs must be" in cli("golden", "import", "-", stdin=bad, code=2)
    rows = json.loads(cli("golden", "list", "--json"))
    assert [(r["query_type"], r["expected_docs"]) for r in rows] == [
        ("short", [ids[0], ids[1]]), ("medium", [ids[3]])]  # fmt: skip
    assert "removed 1 golden entry" in cli("golden", "remove", str(rows[0]["id"]))
    assert "no golden entry with id 424242" in cli("golden", "remove", "424242", code=2)
    assert len(json.loads(cli("golden", "list", "--json"))) == 1


def test_golden_bootstrap_takes_what_both_judges_or_a_human_called_relevant(cli_env):
    ids = seed_insights(cli_env)
    with psycopg.connect(cli_env, autocommit=True) as conn:
        for query, expected in (("tea", [ids[0]]), ("cats", []), ("music", [ids[1]])):
            conn.execute(
                "INSERT INTO ground_truth (query, docs, expected_docs, created_at) "
                "VALUES (%s, %s, %s, %s)",
                [query, Jsonb([{"id": i} for i in expected]), expected,
                 dt.datetime.now(dt.UTC)],
            )  # fmt: skip
    assert "bootstrapped 2 new" in cli("golden", "bootstrap")
    assert "bootstrapped 0 new, updated 2" in cli("golden", "bootstrap")  # idempotent
    rows = {r["query"]: r["expected_docs"] for r in json.loads(cli("golden", "list", "--json"))}
    assert rows == {"tea": [ids[0]], "music": [ids[1]]}
