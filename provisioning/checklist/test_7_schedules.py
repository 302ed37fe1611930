"""Schedules: cron runs, and /etc/cron.d/cognitive-memory has each job at its time."""

from __future__ import annotations

import pytest

CRON_FILE = "/etc/cron.d/cognitive-memory"
JOBS = {
    "backup": ("cogmem_cron_backup", "backup_postgres.sh"),
    "l2-export": ("cogmem_cron_export_l2", "export-l2"),
    "drift-check": ("cogmem_cron_drift_check", "mcp_server.monitoring.drift_check"),
    "budget-alerts": ("cogmem_cron_budget_alerts", "mcp_server.budget.cli alerts --send"),
    "spot-check": ("cogmem_cron_spot_check", "staged_dual_judge_cli.py --evaluate"),
    "restore-test": ("cogmem_cron_restore_test", "backup test-restore"),
    "backup-check": ("cogmem_cron_backup_check", "backup check --max-age-hours"),
}


def test_cron_runs(host):
    assert host.service("cron").is_running
    assert host.service("cron").is_enabled


def test_the_cron_file_runs_jobs_in_production(host):
    cron = host.file(CRON_FILE)
    assert cron.user == "root" and cron.mode == 0o644
    assert "ENVIRONMENT=production" in cron.content_string.splitlines()


@pytest.mark.parametrize("job", JOBS)
def test_the_job_is_scheduled_at_its_time_as_the_service_user(host, expected, job):
    key, marker = JOBS[job]
    lines = [
        line
        for line in host.file(CRON_FILE).content_string.splitlines()
        if marker in line and not line.startswith("#")
    ]
    assert len(lines) == 1, f"{marker} in {CRON_FILE}: {lines}"
    words = lines[0].split()
    schedule = expected[key].split()
    assert words[: len(schedule)] == schedule
    assert words[len(schedule)] == expected["cogmem_user"]
    assert "systemd-cat" in words  # output to the journal
