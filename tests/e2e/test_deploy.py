"""The whole appliance path on a fresh throwaway Debian 13 host, through the user's commands.

bad input refused before any change -> deploy -> checklist green -> second deploy changes
nothing -> checklist still green -> kill -9, SIGSTOP (watchdog), PostgreSQL restart -> teardown.

Needs root, debootstrap and systemd-nspawn (the image is built once and cached). Wall times of
the first deploy, the no-op re-run and the checklist go to reports/e2e-deploy-times.json.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from provisioning import testhost
from provisioning.settings import resolve
from tests.support.deployment import (
    TIMES,
    UNIT,
    Deployment,
    as_service_user,
    call,
    checklist,
    deploy,
    journal,
    ping,
    production_query,
    run,
    write_inventory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def grand_total(output: str) -> dict[str, int]:
    """pyinfra's results line: operations, changed ("Success"), errors, unchanged."""
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, output[-3000:]
    numbers = [0 if value == "-" else int(value) for value in match.groups()]
    return dict(zip(("operations", "changed", "errors", "unchanged"), numbers, strict=True))


def host_state(host: testhost.TestHost) -> str:
    """Enough of the host to notice any change a deploy would make first."""
    probe = "dpkg-query -W -f '${Package} ${Status}\\n' | md5sum; ls -la /opt /etc/systemd/system"
    return host.run(probe, check=True).stdout


def unit_state(host: testhost.TestHost) -> dict[str, str]:
    names = "MainPID,NRestarts,ActiveState,SubState"
    output = host.run(f"systemctl show -p {names} {UNIT}", check=True).stdout
    return dict(line.split("=", 1) for line in output.split())


def wait_for(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


# --- bad input: a clear error, and the host as it was ------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["postgresql_version=14"], "postgresql_version=14 is not supported"),
        (["cogmem_db_name=memory'; DROP"], "is not a safe PostgreSQL name"),
        (["cogmem_watchdog_secs=5"], "unknown setting(s): cogmem_watchdog_secs"),
    ],
    ids=["unknown-postgresql-version", "quote-in-database-name", "unknown-setting"],
)
def test_bad_settings_fail_before_anything_changes(deployment, data, message):
    before = host_state(deployment.host)
    result = deploy(deployment.inventory, *data)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    # the same check inside the deploy file, for users who run pyinfra themselves
    direct = run(
        [sys.executable, "-m", "pyinfra", "-y", str(deployment.inventory),
         "provisioning/deploy.py", *(f"--data={d}" for d in data)]
    )  # fmt: skip
    assert direct.returncode != 0
    assert message in direct.stdout + direct.stderr
    assert host_state(deployment.host) == before


def test_a_missing_inventory_fails_clearly(deployment):
    result = deploy(deployment.inventory.with_name("no-such-inventory.py"))
    assert result.returncode == 2
    assert "inventory file not found" in result.stderr


def test_an_unreachable_host_fails_before_any_change(deployment, tmp_path):
    before = host_state(deployment.host)
    unreachable = tmp_path / "unreachable.py"
    unreachable.write_text(
        "hosts = [('unreachable', {'ssh_hostname': '127.0.0.1', 'ssh_port': 1, "
        "'ssh_user': 'root', 'ssh_connect_retries': 0})]\n"
    )
    result = deploy(unreachable)
    assert result.returncode != 0
    assert "Could not connect" in result.stdout + result.stderr
    assert host_state(deployment.host) == before


# --- the happy path ----------------------------------------------------------------------------


def test_the_first_deploy_brings_up_the_appliance(deployment):
    started = time.monotonic()
    result = deploy(deployment.inventory)
    TIMES["first_deploy_s"] = round(time.monotonic() - started, 1)
    deployment.outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    total = grand_total(result.stdout + result.stderr)
    assert total["errors"] == 0 and total["changed"] > 0
    assert "claude mcp add" in result.stdout
    assert ping(deployment)["status"] == "ok", journal(deployment.host)


def test_no_secret_reaches_the_deploy_output(deployment):
    s = deployment.settings
    env = deployment.host.run(f"cat {s['cogmem_prefix']}/config/.env.production").stdout
    token = re.search(r'^MCP_HTTP_TOKEN="([^"]+)"', env, re.M).group(1)
    password = re.search(r"^DATABASE_URL=\"postgresql://[^:]+:([^@]+)@", env, re.M).group(1)
    assert len(token) >= 32 and len(password) >= 32
    for output in deployment.outputs:
        assert token not in output and password not in output


def test_the_checklist_is_all_green(deployment):
    started = time.monotonic()
    result = checklist(deployment)
    TIMES["checklist_s"] = round(time.monotonic() - started, 1)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "0 failed" in result.stdout


def test_the_second_deploy_changes_nothing(deployment):
    started = time.monotonic()
    result = deploy(deployment.inventory)
    TIMES["noop_deploy_s"] = round(time.monotonic() - started, 1)
    deployment.outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-4000:]
    total = grand_total(result.stdout + result.stderr)
    changed = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if re.search(r"\s1\s+1\s+-\s+-\s*$", line)
    ]
    assert total["changed"] == 0, "\n".join(changed)
    assert total["errors"] == 0


def test_the_checklist_is_still_green(deployment):
    result = checklist(deployment)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


# --- faults --------------------------------------------------------------------------------------


def test_kill_9_is_restarted_within_the_restart_delay(deployment):
    host, s = deployment.host, deployment.settings
    before = unit_state(host)
    host.run(f"kill -9 {before['MainPID']}", check=True)
    killed = time.monotonic()

    def restarted():
        now = unit_state(host)
        fresh = now["MainPID"] not in ("0", before["MainPID"]) and now["SubState"] == "running"
        return now if fresh else None

    after = wait_for(restarted, timeout=s["cogmem_restart_sec"] + 60)
    elapsed = time.monotonic() - killed
    TIMES["restart_after_kill_9_s"] = round(elapsed, 1)
    assert after, journal(host)
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    # systemd waits RestartSec, then the server needs a moment to say READY=1
    assert s["cogmem_restart_sec"] <= elapsed <= s["cogmem_restart_sec"] + 30, journal(host)
    assert ping(deployment)["status"] == "ok"


def test_a_stopped_server_is_restarted_by_the_watchdog(deployment):
    host, s = deployment.host, deployment.settings
    before = unit_state(host)
    host.run(f"kill -STOP {before['MainPID']}", check=True)
    stopped = time.monotonic()
    after = wait_for(
        lambda: (
            (now := unit_state(host))["MainPID"] not in ("0", before["MainPID"])
            and now["SubState"] == "running"
            and now
        ),
        timeout=60,
    )
    elapsed = time.monotonic() - stopped
    TIMES["restart_after_sigstop_s"] = round(elapsed, 1)
    assert after, journal(host)
    assert elapsed >= s["cogmem_watchdog_sec"] - 1  # not before the watchdog ran out
    assert "Watchdog timeout" in host.run(f"journalctl -u {UNIT} --no-pager").stdout
    assert ping(deployment)["status"] == "ok"


def test_the_server_survives_a_postgresql_restart_without_restarting(deployment):
    host, s = deployment.host, deployment.settings
    before = unit_state(host)
    host.run("systemctl restart postgresql", check=True, timeout=120)
    answered = wait_for(lambda: (p := ping(deployment)) and p["status"] == "ok" and p, timeout=30)
    assert answered, journal(host)
    # outlast one watchdog period: a server that lost its database for good would be restarted
    time.sleep(s["cogmem_watchdog_sec"] + 2)
    after = unit_state(host)
    assert (after["MainPID"], after["NRestarts"]) == (before["MainPID"], before["NRestarts"]), (
        journal(host)
    )
    assert ping(deployment)["status"] == "ok"


# --- disaster recovery: a new host, the last backup, the same deploy ---------------------------


def test_a_new_host_recovers_from_a_backup(deployment, wheel, tmp_path):
    s = deployment.settings
    marker = f"remember this after the disaster {time.time()}"
    turn = {"session_id": "e2e-recovery", "speaker": "user", "content": marker}
    assert call(deployment, "store_raw_dialogue", turn), journal(deployment.host)
    turns = production_query(deployment, "SELECT count(*) FROM l0_raw")
    backup = as_service_user(
        deployment,
        "env", f"COGMEM_BACKUP_DIR={s['cogmem_backup_dir']}/postgres",
        f"{s['cogmem_prefix']}/bin/backup_postgres.sh",
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    written = backup.stdout.split("backup written: ", 1)[1].split(" (")[0]
    dump = tmp_path / Path(written).name
    for suffix in ("", ".sha256", ".json"):  # the dump with its checksum and manifest
        copy = Path(f"{dump}{suffix}")
        copy.write_bytes((deployment.host.root / (written + suffix).lstrip("/")).read_bytes())
        copy.chmod(0o600)

    with testhost.throwaway_host() as new_host:
        extra = {"cogmem_wheel": str(wheel), "cogmem_restore_dump": str(dump)}
        inventory = write_inventory(tmp_path, new_host.name, extra)
        from provisioning.inventories import demo_data, testhost_entry

        _, data = testhost_entry(new_host.name, extra={**demo_data(), **extra})
        recovered = Deployment(new_host, inventory, resolve(data))
        started = time.monotonic()
        result = deploy(inventory)
        TIMES["recovery_deploy_s"] = round(time.monotonic() - started, 1)
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        assert production_query(recovered, "SELECT count(*) FROM l0_raw") == turns
        assert (
            production_query(recovered, f"SELECT count(*) FROM l0_raw WHERE content = '{marker}'")
            == "1"
        )
        green = checklist(recovered)
        assert green.returncode == 0, green.stdout[-8000:]
        again = deploy(inventory)  # the dump is never restored over a live database
        assert grand_total(again.stdout + again.stderr)["changed"] == 0
        assert int(production_query(recovered, "SELECT count(*) FROM l0_raw")) >= int(turns)
