"""Data safety on the run's deployed throwaway host: each cron line run once as cron runs it,
the runbook's host commands run as written, and failures that reach a person (a real SMTP
server on this machine's loopback, which the host shares) and turn the checklist red.

The host is the session's (tests/e2e/conftest.py); this module deploys it again with an alert
channel (a small change: the env file and a restart), then needs about a minute and a half.
Every change it makes to the host is undone before it ends.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning import plan as planning
from provisioning import testhost
from tests.support.deployment import Deployment, checklist
from tests.support.ops import Mailbox
from tests.support.runbook import blocks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
UNIT = "cognitive-memory-mcp.service"
CRON_FILE = "/etc/cron.d/cognitive-memory"
WATCHED = ("backup", "export-l2", "drift-check", "restore-test", "backup-check")


@dataclass
class Appliance:
    deployment: Deployment
    mailbox: Mailbox

    @property
    def host(self) -> testhost.TestHost:
        return self.deployment.host

    @property
    def settings(self) -> dict:
        return self.deployment.settings

    def sh(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A bash script as root on the host, with root's login PATH."""
        return self.host.run(["bash", "-euo", "pipefail", "-c", script], timeout=timeout)


def control(*args: str, env: dict | None = None, timeout: float = 900):
    """`cognitive-memory ARGS` on this (the control) machine, as the runbook writes it."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COGMEM_SECRETS_FILE"):
        environ.pop(name, None)
    return subprocess.run([sys.executable, "-m", "mcp_server.cli", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def appliance(deployment):
    with Mailbox() as mailbox:
        # the alert channel comes from the deployer's environment into .env.production
        smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port),
                "ALERT_EMAIL_TO": "ops@example.org"}  # fmt: skip
        inventory = str(deployment.inventory)
        checked = control("deploy", "check", inventory)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        deployed = control("deploy", inventory, env=smtp)
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-6000:]
        yield Appliance(deployment, mailbox)


def cron_jobs(appliance: Appliance) -> tuple[dict[str, str], dict[str, str]]:
    """(variables, {tag: command}) of the cron file; the tag is the job's systemd-cat -t."""
    text = appliance.sh(f"cat {CRON_FILE}").stdout
    variables, jobs = {}, {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            key, _, value = line.partition("=")
            variables[key] = value
            continue
        words = line.split()
        assert words[5] == appliance.settings["cogmem_user"], line
        jobs[words[8]] = " ".join(words[6:])  # systemd-cat -t TAG command...
    return variables, jobs


def as_cron(appliance: Appliance, variables: dict[str, str], command: str):
    """Run one cron command as cron does: the user's uid/gid, a clean environment made of the
    file's variables plus HOME, LOGNAME and SHELL, /bin/sh -c, in the user's home folder."""
    user = appliance.settings["cogmem_user"]
    home = appliance.sh(f"getent passwd {user} | cut -d: -f6").stdout.strip()
    environ = {"HOME": home, "LOGNAME": user, "SHELL": "/bin/sh", **variables}
    argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "env", "-i",
            *(f"{k}={v}" for k, v in environ.items()), "/bin/sh", "-c", command]  # fmt: skip
    return appliance.sh(f"cd {shlex.quote(home)} && {shlex.join(argv)}")


def job_state(appliance: Appliance, job: str) -> dict:
    folder = f"{appliance.settings['cogmem_backup_dir']}/jobs"
    return json.loads(appliance.sh(f"cat {folder}/{job}.json").stdout)


def call(appliance: Appliance, tool: str, arguments: dict) -> dict:
    url = f"http://127.0.0.1:{appliance.settings['cogmem_http_port']}/mcp"
    args = shlex.join(["call", tool, "--json-args", json.dumps(arguments), "--url", url])
    done = appliance.sh(f"cognitive-memory {args}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    return None


# --- the schedules, as cron runs them -----------------------------------------------------------


def test_each_cron_line_runs_once_as_cron_would(appliance):
    content = "The nightly dump is sealed with its sha256"
    turn = call(appliance, "store_raw_dialogue",
                {"session_id": "cron", "speaker": "user", "content": content})  # fmt: skip
    insight = call(appliance, "compress_to_l2_insight",
                   {"content": content, "source_ids": [turn["id"]]})  # fmt: skip
    variables, jobs = cron_jobs(appliance)
    order = ["cognitive-memory-backup", "cognitive-memory-export-l2", "cognitive-memory-drift",
             "cognitive-memory-budget", "cognitive-memory-spot-check",
             "cognitive-memory-restore-test", "cognitive-memory-backup-check"]  # fmt: skip
    assert sorted(jobs) == sorted(order)
    for tag in order:
        done = as_cron(appliance, variables, jobs[tag])
        assert done.returncode == 0, f"{tag}: {done.stdout}{done.stderr}"
    for job in WATCHED:
        assert job_state(appliance, job)["ok"] is True, job
    restore_test = job_state(appliance, "restore-test")["output_tail"]
    assert f"hybrid search found insight {insight['id']} first" in " ".join(restore_test)
    logged = appliance.sh("journalctl -t cognitive-memory-backup --no-pager -o cat").stdout
    assert "backup written: " in logged  # cron's output goes to the journal
    assert appliance.mailbox.messages == []  # nothing failed: no alert


# --- the runbook, as written ------------------------------------------------------------------


def test_the_runbooks_host_commands_run_as_written(appliance):
    turn = {"session_id": "runbook", "speaker": "user", "content": "kept through the runbook"}
    call(appliance, "store_raw_dialogue", turn)
    host_blocks = [body for info, body in blocks() if info == "sh host"]
    assert len(host_blocks) >= 6
    for body in host_blocks:
        done = appliance.sh(body)
        assert done.returncode == 0, f"{body}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    kept = appliance.sh('cognitive-memory psql -XAt -c "SELECT count(*) FROM l0_raw '
                        "WHERE content = 'kept through the runbook'\"")  # fmt: skip
    assert kept.stdout.strip() == "1"  # the backup, both restores and the import kept it
    assert appliance.sh(f"systemctl is-active {UNIT}").stdout.strip() == "active"
    test_alert = [m for m in appliance.mailbox.messages if "test alert from" in Mailbox.body(m)]
    assert test_alert and test_alert[0]["To"] == "ops@example.org"


# --- failures reach a person -------------------------------------------------------------------


def test_a_failed_backup_alerts_and_turns_the_checklist_red_until_the_next_good_one(appliance):
    variables, jobs = cron_jobs(appliance)
    before = appliance.sh("ls /var/backups/cognitive-memory/postgres").stdout
    appliance.sh("systemctl stop postgresql")
    try:
        failed = as_cron(appliance, variables, jobs["cognitive-memory-backup"])
    finally:
        appliance.sh("systemctl start postgresql")
    assert failed.returncode != 0
    mail = appliance.mailbox.messages[-1]
    assert mail["Subject"].startswith("Cognitive Memory backup failed on ")
    assert "cannot connect to the database" in Mailbox.body(mail)
    assert appliance.sh("ls /var/backups/cognitive-memory/postgres").stdout == before
    red = checklist(appliance.deployment, "-k", "last_run_of_the_job_succeeded")
    assert red.returncode == 1 and "backup" in red.stdout, red.stdout[-3000:]
    again = as_cron(appliance, variables, jobs["cognitive-memory-backup"])
    assert again.returncode == 0, again.stderr
    assert job_state(appliance, "backup")["ok"] is True


def test_systemd_giving_up_on_the_server_sends_an_alert(appliance):
    dropin = f"/run/systemd/system/{UNIT}.d"
    appliance.sh(f"mkdir -p {dropin} && printf '[Service]\\nEnvironment=ENVIRONMENT=prod\\n' "
                 f"> {dropin}/broken.conf && systemctl daemon-reload && "
                 f"systemctl restart {UNIT} || true")  # fmt: skip
    try:
        assert wait_for(lambda: appliance.sh(f"systemctl is-failed {UNIT} || true").stdout.strip()
                        == "failed", 60)  # fmt: skip
        mail = wait_for(lambda: [m for m in appliance.mailbox.messages
                                 if "service failed" in m["Subject"]], 60)  # fmt: skip
        assert mail, appliance.sh("journalctl -t cognitive-memory-alert --no-pager").stdout
        assert f"systemd gave up on {UNIT}" in Mailbox.body(mail[0])
    finally:
        appliance.sh(f"rm -rf {dropin} && systemctl daemon-reload && systemctl reset-failed {UNIT}"
                     f" && systemctl start {UNIT}")  # fmt: skip
    assert appliance.sh(f"systemctl is-active {UNIT}").stdout.strip() == "active"


def test_the_checklist_is_green_after_all_of_it(appliance):
    host = appliance.host
    green = control("checklist", f"--hosts={host.ssh_url}", f"--ssh-config={host.ssh_config_path}",
                    *planning.checklist_data(appliance.settings))  # fmt: skip
    assert green.returncode == 0, green.stdout[-6000:]
