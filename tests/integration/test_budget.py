"""Budget reports and alerts: real rows, a real SMTP server and a real webhook on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import yaml
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from mcp_server.budget.cli import app
from mcp_server.db.cost_logger import insert_cost_log
from tests.support.net import free_port


@pytest.fixture
def budget_env(migrated_database, config_dir, monkeypatch):
    """The CLI's own configuration path, pointed at a migrated test database."""
    settings, url = migrated_database
    config = yaml.safe_load((config_dir / "config.yaml").read_text())
    config["development"]["database"]["name"] = settings.database.name
    (config_dir / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("COGMEM_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def spend(url: str, *rows) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for api, calls, tokens, cost in rows:
            insert_cost_log(api, calls, tokens, cost, conn=conn)


def run(*args) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_breakdown_and_daily_sum_the_log(budget_env):
    spend(budget_env, ("openai_embeddings", 3, 3000, 0.5), ("openai_embeddings", 1, 10, 0.25),
          ("anthropic_chat", 2, 500, 1.0))  # fmt: skip
    rows = json.loads(run("breakdown", "--days", "7", "--json"))
    assert rows == [
        {"api_name": "anthropic_chat", "calls": 2, "tokens": 500, "cost_eur": 1.0},
        {"api_name": "openai_embeddings", "calls": 4, "tokens": 3010, "cost_eur": 0.75},
    ]
    days = json.loads(run("daily", "--days", "1", "--json"))
    assert len(days) == 1 and days[0]["cost_eur"] == 1.75
    assert "openai_embeddings" in run("breakdown", "--days", "7")


def test_dashboard_levels(budget_env):
    assert json.loads(run("dashboard", "--json"))["level"] == "ok"
    spend(budget_env, ("openai_chat", 1, 1, 8.5))
    data = json.loads(run("dashboard", "--json"))
    assert (data["level"], data["used_pct"]) == ("warning", 85.0)


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def test_alerts_send_mail_and_slack_only_over_the_threshold(budget_env, monkeypatch):
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    posts = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("ALERT_EMAIL_TO", "owner@example.org")
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{hook.server_port}/hook")
        quiet = json.loads(run("alerts", "--send", "--json"))
        assert quiet["sent_via"] == [] and not mailbox.messages and not posts
        spend(budget_env, ("openai_chat", 1, 1, 9.0))
        loud = json.loads(run("alerts", "--send", "--json"))
    finally:
        smtp.stop()
        hook.shutdown()
    assert loud["level"] == "warning"
    assert loud["sent_via"] == ["email", "slack"]
    assert mailbox.messages[0].rcpt_tos == ["owner@example.org"]
    assert b"9.00 of 10.00 EUR" in mailbox.messages[0].content
    assert "9.00 of 10.00 EUR" in posts[0]["text"]


def test_optimize_draws_its_advice_from_the_data(budget_env):
    assert json.loads(run("optimize", "--json")) == [
        "Nothing to optimize: no paid calls were logged in the last 30 days"
    ]
    spend(budget_env, ("judge", 40, 20000, 0.40), ("openai_embeddings", 100, 1200, 0.01),
          ("evaluation", 10, 5000, 0.09))  # fmt: skip
    advice = json.loads(run("optimize", "--json"))
    assert advice[0].startswith("judge: 0.4000 EUR in 30 days (80% of the cost), 40 calls")
    assert "the first place to save" in advice[0]
    assert any("12 tokens: short texts one call each" in line for line in advice)
    # Phase 2 keeps judge 1 and 5 % of judge 2: about (1 - 0.05) / 2 of 0.40 EUR.
    assert any("would save about 0.1900 EUR (48%)" in line for line in advice)
