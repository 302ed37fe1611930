"""Evaluation: its tables, the models the deploy configured, the staged judge and the golden
results answering. Read-only: no model is called and nothing is written."""

from __future__ import annotations

import json

import pytest

from provisioning.checklist.support import (
    ENVIRONMENTS,
    app_command,
    app_python,
    call_tool,
    database_of,
    psql_value,
)

TABLES = ("evaluation_log", "ground_truth", "judge_phase_events", "golden_test_set",
          "model_drift_log", "api_cost_log")  # fmt: skip
SETTINGS = (
    "from mcp_server.config import load_settings; import json; "
    "e = load_settings(providers=False).evaluation; "
    "print(json.dumps(e.model_dump(mode='json')))"
)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("table", TABLES)
def test_the_evaluation_tables_exist(host, expected, environment, table):
    database = database_of(expected, environment)
    found = psql_value(host, expected, database, f"SELECT to_regclass('public.{table}')")
    assert found == table, f"{table} is missing in {database}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_evaluator_and_judges_are_the_deployed_ones(host, expected, environment):
    result = host.run(app_python(expected, environment, SETTINGS))
    assert result.rc == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert evaluation["enabled"] is bool(expected["cogmem_evaluation_enabled"])
    configured = [evaluation["evaluator"], *evaluation["judges"]]
    wanted = [
        {"provider": expected[f"{who}_provider"], "model": expected[f"{who}_model"],
         "base_url": expected[f"{who}_base_url"] or None}
        for who in ("cogmem_evaluator", "cogmem_judge1", "cogmem_judge2")
    ]  # fmt: skip
    assert configured == wanted


def test_the_staged_judge_reports_its_phase(host, expected):
    result = host.run(app_command(expected, "production", "judge", "status", "--json"))
    assert result.rc == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["phase"] in ("dual", "single")
    assert {c["phase"] for c in status["costs"]} == {"dual", "single"}


def test_the_golden_results_answer_over_http(host, expected):
    results = call_tool(host, expected, "production", "get_golden_test_results", {}, http=True)
    assert set(results) == {"latest", "trend", "mean_precision_at_5"}
