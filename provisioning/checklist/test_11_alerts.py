"""Alerts: failures reach a person. The server's OnFailure= names a working alert unit, the
server has not failed for good, and the last run of each watched job succeeded (each failure is
a red line here until the job succeeds again)."""

from __future__ import annotations

import json

import pytest

from provisioning.checklist.support import UNIT

ALERT_UNIT = "cognitive-memory-alert@.service"
# Jobs run through `cognitive-memory job NAME --` by /etc/cron.d/cognitive-memory.
WATCHED_JOBS = ["backup", "export-l2", "drift-check", "restore-test", "backup-check"]


def test_the_alert_unit_is_valid(host):
    result = host.run(f"systemd-analyze verify /etc/systemd/system/{ALERT_UNIT}")
    assert result.rc == 0 and not result.stderr.strip(), result.stderr


def test_the_server_has_not_failed_for_good(host):
    state = host.run(f"systemctl is-failed {UNIT}").stdout.strip()
    assert state != "failed", f"systemd gave up on {UNIT}: systemctl status {UNIT}"


@pytest.mark.parametrize("job", WATCHED_JOBS)
def test_the_last_run_of_the_job_succeeded(host, expected, job):
    status = host.file(f"{expected['cogmem_backup_dir']}/jobs/{job}.json")
    if not status.exists:
        pytest.skip(f"{job} has not run yet")
    run = json.loads(status.content_string)
    assert run["ok"], (
        f"{job} failed (exit {run['exit_code']}) at {run['finished_at']}:\n"
        + "\n".join(run["output_tail"])
    )
