"""Environment separation: what production stores stays there, and development's the same."""

from __future__ import annotations

import time

import pytest

from provisioning.checklist.support import (
    ENVIRONMENTS,
    app_python,
    call_tool,
    database_of,
    env_file_of,
    psql_value,
)
from provisioning.envfile import parse_env


def _counts(host, expected) -> dict[str, int]:
    return {
        environment: int(
            psql_value(
                host, expected, database_of(expected, environment), "SELECT count(*) FROM l0_raw"
            )
        )
        for environment in ENVIRONMENTS
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_stored_dialogue_lands_only_in_its_environment(host, expected, environment):
    before = _counts(host, expected)
    turn = {
        "session_id": f"checklist-{int(time.time())}",
        "speaker": "user",
        "content": f"checklist test dialogue for {environment}",
        "metadata": {"source": "provisioning.checklist"},
    }
    # production through the service (HTTP + token), development through its own stdio server
    stored = call_tool(
        host, expected, environment, "store_raw_dialogue", turn, http=environment == "production"
    )
    try:
        assert isinstance(stored.get("id"), int), stored
        after = _counts(host, expected)
        other = next(e for e in ENVIRONMENTS if e != environment)
        assert after[environment] == before[environment] + 1
        assert after[other] == before[other]
    finally:
        _forget(host, expected, environment, stored.get("id"), turn["session_id"])
    # a checklist leaves no trace: the row is gone again
    assert _counts(host, expected) == before


def _forget(host, expected, environment: str, row_id, session_id: str) -> None:
    """Delete the check's own row (by id and its session, so nothing else can match)."""
    if not isinstance(row_id, int):
        return
    psql_value(
        host,
        expected,
        database_of(expected, environment),
        f"DELETE FROM l0_raw WHERE id = {row_id} AND session_id = '{session_id}'",
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_connects_to_its_own_database(host, expected, environment):
    code = (
        "from mcp_server import runtime; from mcp_server.db.connection import connect\n"
        f"loaded = runtime.load({environment!r}, log_level='WARNING')\n"
        "with connect(loaded.settings, url=loaded.database_url) as conn:\n"
        "    print(conn.info.dbname)\n"
    )
    result = host.run(app_python(expected, environment, code))
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == database_of(expected, environment)


def test_the_environments_have_different_tokens(host, expected):
    tokens = [
        parse_env(host.file(env_file_of(expected, e)).content_string).get("MCP_HTTP_TOKEN")
        for e in ENVIRONMENTS
    ]
    # compare without ever putting a token into the report
    present = all(tokens)
    shared = tokens[0] == tokens[1]
    assert present, "an env file has no MCP_HTTP_TOKEN"
    assert not shared, "production and development share one MCP_HTTP_TOKEN"
