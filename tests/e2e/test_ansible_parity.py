"""The Ansible playbook against the pyinfra deploy, on fresh throwaway Debian 13 hosts.

Two appliances get the same non-default settings (database, role and user names, prefix, backup
folder, a schedule, off-host backups; each its own ports, as they share this machine's network),
each with a backup host of its own deployed by the same run, and both tools connect as a
non-root user with passwordless sudo. The two deploys run side by side, then:

- the checklist, run with no --data, is all green on the Ansible host (it reads deployed.json),
  and --check --diff reports no change;
- a second playbook run with -vvv --diff reports changed=0 and prints no secret; the second
  pyinfra deploy changes nothing;
- the hosts are alike: rendered files (secrets masked), modes and owners, unit properties,
  cron, schemas, extension versions, packages, the app's virtualenv, the pgBackRest and
  off-host copy settings with their keys' modes; the two backup hosts are alike too (account,
  folders, authorized keys). A difference fails with a readable diff;
- recovery by Ansible: rows written on the Ansible appliance and archived; a fresh host deployed
  by the playbook with `cogmem_restore_from: latest` from the backup host's repository (in the
  background while the checks above run, so the appliance stays up, as in a recovery drill)
  finds them, answers hybrid_search and carries on archiving on a timeline of its own.

All hosts are booted side by side and torn down at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from provisioning import testhost
from provisioning.inventories import demo_data, throwaway_data
from provisioning.settings import resolve
from tests.support import recovery as recovery_support
from tests.support.host_state import backup_host_snapshot, differences, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUDO_USER = "deploy"
# Every kind of name the issue lists, changed from provisioning/defaults.yml.
SETTINGS = {
    "cogmem_db_name": "memories",
    "cogmem_dev_db_name": "memories_dev",
    "cogmem_db_user": "memory_app",
    "cogmem_user": "cogmem-svc",
    "cogmem_prefix": "/srv/cogmem",
    "cogmem_backup_dir": "/srv/backups/cogmem",
    "cogmem_cron_backup": "15 1 * * *",
    # off-host backups, each appliance to its own backup host, under one folder name there
    "cogmem_backup_name": "parity-appliance",
}
# A deployer's API key: it must reach the env files and never an output.
DEPLOYER_KEY = f"sk-e2e-{secrets.token_hex(16)}"
# What only the Ansible host has, for Ansible's own modules: community.postgresql's driver and
# the apt module's python3-apt (sudo, which become_user needs, is on both hosts).
ANSIBLE_ONLY_PACKAGES = {"python3-psycopg", "python3-apt", "python-apt-common", "distro-info-data"}
TIMES: dict[str, float] = {}
NO_HOST_KEY_CHECK = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def run(command: list[str], timeout: float = 900) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": DEPLOYER_KEY}
    for name in ("ANTHROPIC_API_KEY", "COGMEM_SECRETS_FILE", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    return result, round(time.monotonic() - started, 1)


def recap(output: str) -> dict[str, int]:
    """The play recap's counts, summed over its hosts (appliance and backup host)."""
    found = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert found, output[-3000:]
    names = ("ok", "changed", "unreachable", "failed")
    return {name: sum(int(row[i]) for row in found) for i, name in enumerate(names)}


def pyinfra_changed(output: str) -> int:
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, output[-3000:]
    return 0 if match.group(2) == "-" else int(match.group(2))


def connection(host: testhost.TestHost) -> dict:
    """How Ansible reaches a throwaway host, as the sudo user."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": host.ssh_port,
        "ansible_user": SUDO_USER,
        "ansible_ssh_private_key_file": str(host.key_path),
        "ansible_ssh_common_args": NO_HOST_KEY_CHECK,
    }


def pyinfra_data(host: testhost.TestHost) -> dict:
    """How pyinfra reaches a throwaway host, as the sudo user."""
    _, data = host.pyinfra_host_data()
    return {**data, "ssh_hostname": "127.0.0.1", "ssh_user": SUDO_USER, "_sudo": True}


class Site:
    """One booted appliance with a sudo user, its backup host, its settings, and how each tool
    reaches them (one inventory per tool: the appliance and its backup host)."""

    def __init__(self, host, backup, folder: Path, wheel: Path, **extra) -> None:
        self.host, self.backup = host, backup
        self.data = {
            **demo_data(), **SETTINGS, **throwaway_data(host), "cogmem_wheel": str(wheel),
            "cogmem_backup_host": backup.name, **extra,
        }  # fmt: skip
        self.settings = resolve(self.data)
        self.ssh_config = folder / f"{host.name}.ssh_config"
        self.ssh_config.write_text(
            host.ssh_config_path.read_text().replace("User root", f"User {SUDO_USER}")
        )
        self.ansible_inventory = folder / f"{host.name}.yml"
        groups = {
            "cognitive_memory": {"hosts": {host.name: {**connection(host), **self.data}}},
            "backup_hosts": {"hosts": {backup.name: connection(backup)}},
        }
        self.ansible_inventory.write_text(yaml.safe_dump(groups))
        self.pyinfra_inventory = folder / f"{host.name}.py"
        self.pyinfra_inventory.write_text(
            f"hosts = [('127.0.0.1', {{**{pyinfra_data(host)!r}, **{self.data!r}}})]\n"
            f"backup_hosts = [({backup.name!r}, {pyinfra_data(backup)!r})]\n"
        )

    def playbook(self, *options: str) -> tuple[subprocess.CompletedProcess, float]:
        site = REPO / "provisioning" / "ansible" / "site.yml"
        return run([str(BIN / "ansible-playbook"), "-i", str(self.ansible_inventory),
                    str(site), *options])  # fmt: skip

    def pyinfra(self) -> tuple[subprocess.CompletedProcess, float]:
        return run([sys.executable, "-m", "provisioning", "deploy", str(self.pyinfra_inventory)])

    def masked(self) -> dict[str, str]:
        """Host-specific strings of the off-host settings, for the parity diff."""
        return {self.backup.name: "<backup host>", str(self.backup.ssh_port): "<backup ssh port>"}

    def secrets(self) -> list[str]:
        """The host-made password, tokens and private keys, and the deployer's key."""
        prefix = self.settings["cogmem_prefix"]
        found = [DEPLOYER_KEY]
        for environment in ("production", "development"):
            env = self.host.run(f"cat {prefix}/config/.env.{environment}", check=True).stdout
            found += re.findall(r'^MCP_HTTP_TOKEN="([^"]+)"', env, re.M)
            found += re.findall(r"^DATABASE_URL=\"postgresql://[^:]+:([^@]+)@", env, re.M)
            assert f'OPENAI_API_KEY="{DEPLOYER_KEY}"' in env
        for key in (f"{prefix}/offsite/cogmem-backup", "/var/lib/postgresql/.ssh/cogmem-backup"):
            private = self.host.run(f"cat {key}", check=True).stdout
            found.append(private.splitlines()[1])  # a line of the key itself
        assert len(found) == 7 and all(len(value) >= 32 for value in found[1:])
        return found


def boot(*names: str) -> list[testhost.TestHost]:
    """Boot hosts side by side, each with the sudo user; all torn down if one fails."""
    hosts = recovery_support.boot_all(*names)
    try:
        with ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(lambda h: testhost.add_sudo_user(h, SUDO_USER), hosts))
    except BaseException:
        recovery_support.teardown_all(hosts)
        raise
    return hosts


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built, _ = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."])
    assert built.returncode == 0, built.stderr
    return next(out.glob("cognitive_memory-*.whl"))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """{role: host}: two appliances, their backup hosts, and a fresh host for the recovery."""
    try:
        testhost.check_requirements()
    except testhost.TestHostError as error:
        pytest.skip(str(error))
    if not (BIN / "ansible-playbook").exists() or shutil.which("ssh") is None:
        pytest.skip("ansible-playbook is not installed (make install adds the ansible extra)")
    suffix = secrets.token_hex(2)
    roles = {
        "ansible": f"7-ansible-{suffix}", "pyinfra": f"7-pyinfra-{suffix}",
        "ansible backup": f"8a2-bk-ansible-{suffix}", "pyinfra backup": f"8a2-bk-pyinfra-{suffix}",
        "recovered": f"8a2-recovered-{suffix}",
    }  # fmt: skip
    booted = dict(zip(roles, boot(*roles.values()), strict=True))
    try:
        yield booted
    finally:
        recovery_support.teardown_all([h for h in booted.values() if testhost.leftovers(h)])
        report = REPO / "reports" / "e2e-ansible-parity-times.json"
        report.parent.mkdir(exist_ok=True)
        report.write_text(json.dumps(TIMES, indent=2) + "\n")
        print(f"\nansible/pyinfra e2e wall times (s): {TIMES}")


@pytest.fixture(scope="module")
def sites(hosts, wheel, tmp_path_factory):
    """(Ansible site, pyinfra site), each with its own backup host."""
    folder = tmp_path_factory.mktemp("parity")
    return tuple(Site(hosts[tool], hosts[f"{tool} backup"], folder, wheel)
                 for tool in ("ansible", "pyinfra"))  # fmt: skip


@pytest.fixture(scope="module")
def first_runs(sites):
    ansible, pyinfra = sites
    with ThreadPoolExecutor(2) as pool:
        by_ansible = pool.submit(ansible.playbook)
        by_pyinfra = pool.submit(pyinfra.pyinfra)
        (a, TIMES["ansible_first_s"]), (p, TIMES["pyinfra_first_s"]) = (
            by_ansible.result(),
            by_pyinfra.result(),
        )
    assert a.returncode == 0, (a.stdout + a.stderr)[-6000:]
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    return {"ansible": a.stdout + a.stderr, "pyinfra": p.stdout + p.stderr}


@pytest.fixture(scope="module")
def recovery(hosts, sites, first_runs, tmp_path_factory):
    """Rows written on the Ansible appliance and archived; then, in the background while the
    other checks run, a fresh host deployed by the playbook from the backup host's repository
    (cogmem_restore_from: latest). The backup hosts are read before it adds its keys there."""
    ansible, _ = sites
    backups = {site: backup_host_snapshot(site.backup, site.settings, site.masked())
               for site in sites}  # fmt: skip
    a = recovery_appliance(ansible)
    said = "Ansible restores this from the backup host"
    turn = a.call("store_raw_dialogue", {"session_id": "dr", "speaker": "user", "content": said})
    insight = a.call(
        "compress_to_l2_insight",
        {"content": "Recovered by Ansible from the backup host", "source_ids": [turn["id"]]},
    )
    rows = a.query("SELECT id, content FROM l0_raw ORDER BY id")
    # push the WAL holding the last write to the backup host, as archive_timeout would
    assert a.pgbackrest("check").returncode == 0
    wheel = Path(ansible.data["cogmem_wheel"])
    folder = tmp_path_factory.mktemp("recovered")
    fresh = Site(hosts["recovered"], ansible.backup, folder, wheel, cogmem_restore_from="latest")
    with ThreadPoolExecutor(1) as pool:
        deploy = pool.submit(fresh.playbook)
        yield {"site": fresh, "deploy": deploy, "rows": rows, "insight": insight,
               "backup hosts": backups}  # fmt: skip


def recovery_appliance(site: Site) -> recovery_support.Appliance:
    return recovery_support.Appliance(site.host, site.ansible_inventory, site.settings)


def test_the_playbook_brings_up_the_appliance_as_a_sudo_user(sites, first_runs):
    output = first_runs["ansible"]
    assert recap(output)["failed"] == 0 and recap(output)["changed"] > 0
    assert "claude mcp add" in output
    # the closing lines read the token through sudo: the env file is the service user's
    assert "sudo grep -m1 '^MCP_HTTP_TOKEN='" in output
    assert "--sudo" in output


def test_the_checklist_is_green_without_data_and_check_mode_changes_nothing(
    sites, first_runs, recovery
):
    ansible, _ = sites
    checklist = [
        sys.executable, "-m", "provisioning.checklist",
        f"--hosts=ssh://{SUDO_USER}@{ansible.host.name}", f"--ssh-config={ansible.ssh_config}",
        "--sudo", f"--junitxml={REPO / 'reports' / 'checklist-e2e-ansible.xml'}",
    ]  # fmt: skip
    # --check changes nothing, so it may run while the checklist reads the host
    with ThreadPoolExecutor(2) as pool:
        by_checklist = pool.submit(run, checklist)
        by_check_mode = pool.submit(ansible.playbook, "--check", "--diff")
        (result, TIMES["checklist_s"]), (check, TIMES["ansible_check_s"]) = (
            by_checklist.result(),
            by_check_mode.result(),
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "0 failed" in result.stdout
    assert check.returncode == 0, (check.stdout + check.stderr)[-6000:]
    assert recap(check.stdout)["changed"] == 0, check.stdout[-6000:]


def test_second_runs_change_nothing_and_print_no_secret(sites, first_runs):
    ansible, pyinfra = sites
    with ThreadPoolExecutor(2) as pool:
        by_ansible = pool.submit(ansible.playbook, "-vvv", "--diff")
        by_pyinfra = pool.submit(pyinfra.pyinfra)
        (a, TIMES["ansible_noop_vvv_s"]), (p, TIMES["pyinfra_noop_s"]) = (
            by_ansible.result(),
            by_pyinfra.result(),
        )
    assert a.returncode == 0, (a.stdout + a.stderr)[-6000:]
    changed = [line for line in a.stdout.splitlines() if line.startswith("changed:")]
    assert recap(a.stdout)["changed"] == 0, "\n".join(changed)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    assert pyinfra_changed(p.stdout + p.stderr) == 0
    for site, outputs in ((ansible, [first_runs["ansible"], a.stdout + a.stderr]),
                          (pyinfra, [first_runs["pyinfra"], p.stdout + p.stderr])):  # fmt: skip
        for secret in site.secrets():
            leaks = [i for i, output in enumerate(outputs) if secret in output]
            assert not leaks, f"a secret of {site.host.name} is in the output of run {leaks}"


def test_both_tools_leave_the_same_host(sites, first_runs, recovery):
    ansible, pyinfra = sites
    left = snapshot(pyinfra.host, pyinfra.settings, pyinfra.masked())
    right = snapshot(ansible.host, ansible.settings, ansible.masked())
    backup_left = recovery["backup hosts"][pyinfra]
    backup_right = recovery["backup hosts"][ansible]

    def allowed(aspect: str, line: str) -> bool:
        return aspect == "packages" and line.split(" ")[0] in ANSIBLE_ONLY_PACKAGES

    names = ("pyinfra host", "ansible host")
    report = differences(left, right, names, allowed)
    report += differences(backup_left, backup_right, ("pyinfra backup host", "ansible backup host"),
                          allowed)  # fmt: skip
    assert not report, "the two deploys differ:\n" + "\n".join(report)
    # the snapshot saw a real appliance, not two empty answers
    assert "cogmem-svc" in left["modes and owners"] and "extension vector" in "".join(left.values())
    assert "repo1-type=sftp" in left["file /etc/pgbackrest/pgbackrest.conf"]
    assert backup_left["authorized keys"].count("restrict ssh-ed25519 <key>") == 2


def test_the_playbook_recovers_a_fresh_host_from_the_backup_host(recovery):
    """The fresh host has every row written before, answers hybrid_search, and archives on."""
    result, TIMES["ansible_recovery_s"] = recovery["deploy"].result()
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert recap(result.stdout)["failed"] == 0
    c = recovery_appliance(recovery["site"])
    assert c.query("SELECT id, content FROM l0_raw ORDER BY id") == recovery["rows"]
    found = c.call("hybrid_search", {"query_text": "recovered by Ansible", "top_k": 3})
    assert found["results"][0]["id"] == recovery["insight"]["id"]
    # it carries on the backups: its WAL reaches the same repository, on a timeline of its own
    assert c.pgbackrest("check").returncode == 0
