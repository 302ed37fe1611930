"""The deploy's own secrets: kept across runs, made on the host, given to PostgreSQL as SCRAM."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from provisioning import credentials, plan
from provisioning.envfile import parse_env, url_password
from provisioning.facts import HostSecrets
from provisioning.render import env_file
from provisioning.settings import DEFAULTS

FRESH = ["a" * 43, "b" * 43, "c" * 43]


def host_state(production: str = "", development: str = "") -> dict:
    lines = ["@@file /opt/cognitive-memory/config/.env.production", *production.splitlines()]
    lines += ["@@file /opt/cognitive-memory/config/.env.development", *development.splitlines()]
    return HostSecrets().process([*lines, "@@generated", *FRESH])


def test_a_fresh_host_gets_the_values_it_made_itself():
    chosen = credentials.choose(host_state(), {})
    assert chosen.db_password == FRESH[0]
    assert chosen.tokens == {"production": FRESH[1], "development": FRESH[2]}
    assert chosen.keys == {"production": {}, "development": {}}


def test_a_second_run_keeps_the_password_tokens_and_hand_typed_keys():
    first = credentials.choose(host_state(), {"SMTP_HOST": "mail.example.org"})
    production = env_file(
        DEFAULTS,
        "production",
        db_password=first.db_password,
        token=first.tokens["production"],
        secrets={**first.keys["production"], "OPENAI_API_KEY": "sk-typed-on-the-host"},
    )
    development = env_file(
        DEFAULTS,
        "development",
        db_password=first.db_password,
        token=first.tokens["development"],
        secrets=first.keys["development"],
    )
    again = host_state(production, development)
    again["generated"] = ["x" * 43, "y" * 43, "z" * 43]  # new randoms must not be used
    second = credentials.choose(again, {})
    assert second.db_password == first.db_password
    assert second.tokens == first.tokens
    assert second.keys["production"]["OPENAI_API_KEY"] == "sk-typed-on-the-host"
    assert second.keys["production"]["SMTP_HOST"] == "mail.example.org"
    assert "OPENAI_API_KEY" not in second.keys["development"]


def test_the_deployers_key_wins_and_placeholders_count_as_missing():
    production = 'OPENAI_API_KEY="your-openai-api-key"\nANTHROPIC_API_KEY="sk-ant-old"\n'
    chosen = credentials.choose(host_state(production), {"ANTHROPIC_API_KEY": "sk-ant-new"})
    assert chosen.keys["production"] == {"ANTHROPIC_API_KEY": "sk-ant-new"}


def test_the_host_must_return_random_values():
    state = host_state()
    state["generated"] = []
    with pytest.raises(RuntimeError, match="random"):
        credentials.choose(state, {})


def test_env_values_round_trip_through_the_parser():
    text = env_file(
        DEFAULTS, "production", db_password="Pw-_09", token="t", secrets={"SMTP_PASSWORD": 'a"b\\c'}
    )
    values = parse_env(text)
    assert values["SMTP_PASSWORD"] == 'a"b\\c'
    assert url_password(values["DATABASE_URL"]) == "Pw-_09"


def test_our_scram_verifier_checks_its_password():
    verifier = credentials.scram_verifier("correct horse")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert credentials.verifies("correct horse", verifier)
    assert not credentials.verifies("wrong horse", verifier)
    assert not credentials.verifies("correct horse", None)
    assert not credentials.verifies("correct horse", "md5abc")


def test_a_verifier_made_by_postgresql_is_understood(cluster_admin_url):
    role = f"scram_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster_admin_url, autocommit=True) as admin:
        admin.execute("SET password_encryption = 'scram-sha-256'")
        admin.execute(
            sql.SQL("CREATE ROLE {} PASSWORD 'from postgres'").format(sql.Identifier(role))
        )
        try:
            stored = admin.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]
            ).fetchone()[0]
            assert credentials.verifies("from postgres", stored)
            assert not credentials.verifies("something else", stored)
            # and PostgreSQL stores our verifier as it is (no password ever sent)
            ours = credentials.scram_verifier("from the deploy")
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), ours))
            stored = admin.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]
            ).fetchone()[0]
            assert stored == ours
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_next_steps_name_commands_but_never_a_secret():
    settings = {**DEFAULTS, "cogmem_http_port": 9000}
    steps = plan.next_steps(
        "memory.example.org",
        {"ssh_user": "root", "ssh_port": 2222},
        plan.Plan(settings, {"OPENAI_API_KEY": "sk-secret"}, None, "0.1.0", [1]),
    )
    assert "sk-secret" not in steps
    assert "claude mcp add --transport http cognitive-memory http://127.0.0.1:9000/mcp" in steps
    assert "ssh -p 2222 -N -L 9000:127.0.0.1:9000 root@memory.example.org" in steps
    assert "grep -m1 '^MCP_HTTP_TOKEN=' /opt/cognitive-memory/config/.env.production" in steps
    assert "--data" not in steps  # the checklist reads the settings from the host


def test_on_this_machine_the_steps_need_no_ssh():
    steps = plan.next_steps("@local", {}, plan.Plan(dict(DEFAULTS), {}, None, "0.1.0", [1]))
    assert "ssh" not in steps
    assert "no tunnel needed" in steps
    assert "--hosts=local://" in steps
    assert "claude mcp add cognitive-memory -- runuser -u cognitive-memory -- env" in steps


def test_the_checklist_gets_every_setting_that_differs():
    changed = {**DEFAULTS, "postgresql_port": 5433, "cogmem_allow_hashing_in_production": True}
    assert plan.checklist_data(changed) == [
        "--data=cogmem_allow_hashing_in_production=true",
        "--data=postgresql_port=5433",
    ]
