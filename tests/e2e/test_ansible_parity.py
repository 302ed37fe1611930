"""The Ansible playbook against the pyinfra deploy, on two fresh throwaway Debian 13 hosts.

Both hosts get the same non-default settings (database, role and user names, prefix, backup
folder, a schedule; each its own ports, as they share this machine's network) and both tools
connect as a non-root user with passwordless sudo. The two deploys run side by side, then:

- the checklist, run with no --data, is all green on the Ansible host (it reads deployed.json),
  and --check --diff reports no change;
- a second playbook run with -vvv --diff reports changed=0 and prints no secret; the second
  pyinfra deploy changes nothing;
- the hosts are alike: rendered files (secrets masked), modes and owners, unit properties,
  cron, schemas, extension versions, packages, the app's virtualenv. A difference fails with
  a readable diff.

Both hosts are torn down at the end, also on failure.
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
from provisioning.inventories import demo_data, own_ports
from provisioning.settings import resolve
from tests.support.host_state import differences, snapshot

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
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-3000:]
    names = ("ok", "changed", "unreachable", "failed")
    return dict(zip(names, map(int, match.groups()), strict=True))


def pyinfra_changed(output: str) -> int:
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, output[-3000:]
    return 0 if match.group(2) == "-" else int(match.group(2))


class Site:
    """One booted host with a sudo user, its settings, and how each tool reaches it."""

    def __init__(self, host: testhost.TestHost, folder: Path, wheel: Path) -> None:
        self.host = host
        self.data = {**demo_data(), **SETTINGS, **own_ports(host), "cogmem_wheel": str(wheel)}
        self.settings = resolve(self.data)
        self.ssh_config = folder / f"{host.name}.ssh_config"
        self.ssh_config.write_text(
            host.ssh_config_path.read_text().replace("User root", f"User {SUDO_USER}")
        )
        self.ansible_inventory = folder / f"{host.name}.yml"
        connection = {
            "ansible_host": "127.0.0.1",
            "ansible_port": host.ssh_port,
            "ansible_user": SUDO_USER,
            "ansible_ssh_private_key_file": str(host.key_path),
            "ansible_ssh_common_args": NO_HOST_KEY_CHECK,
        }
        hosts = {host.name: {**connection, **self.data}}
        self.ansible_inventory.write_text(yaml.safe_dump({"cognitive_memory": {"hosts": hosts}}))
        self.pyinfra_inventory = folder / f"{host.name}.py"
        address, data = host.pyinfra_host_data()
        data = {**data, "ssh_user": SUDO_USER, "_sudo": True, **self.data}
        self.pyinfra_inventory.write_text(f"hosts = [({address!r}, {data!r})]\n")

    def playbook(self, *options: str) -> tuple[subprocess.CompletedProcess, float]:
        site = REPO / "provisioning" / "ansible" / "site.yml"
        return run([str(BIN / "ansible-playbook"), "-i", str(self.ansible_inventory),
                    str(site), *options])  # fmt: skip

    def pyinfra(self) -> tuple[subprocess.CompletedProcess, float]:
        return run([sys.executable, "-m", "provisioning", "deploy", str(self.pyinfra_inventory)])

    def secrets(self) -> list[str]:
        """The host-made password and tokens, and the deployer's key, as the env files hold them."""
        prefix = self.settings["cogmem_prefix"]
        found = [DEPLOYER_KEY]
        for environment in ("production", "development"):
            env = self.host.run(f"cat {prefix}/config/.env.{environment}", check=True).stdout
            found += re.findall(r'^MCP_HTTP_TOKEN="([^"]+)"', env, re.M)
            found += re.findall(r"^DATABASE_URL=\"postgresql://[^:]+:([^@]+)@", env, re.M)
            assert f'OPENAI_API_KEY="{DEPLOYER_KEY}"' in env
        assert len(found) == 5 and all(len(value) >= 32 for value in found[1:])
        return found


def boot(name: str, folder: Path, wheel: Path) -> Site:
    host = testhost.boot(name)
    try:
        testhost.add_sudo_user(host, SUDO_USER)
        return Site(host, folder, wheel)
    except BaseException:
        testhost.teardown(host)
        raise


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built, _ = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."])
    assert built.returncode == 0, built.stderr
    return next(out.glob("cognitive_memory-*.whl"))


@pytest.fixture(scope="module")
def sites(wheel, tmp_path_factory):
    """(Ansible site, pyinfra site), booted side by side and deployed side by side."""
    try:
        testhost.check_requirements()
    except testhost.TestHostError as error:
        pytest.skip(str(error))
    if not (BIN / "ansible-playbook").exists() or shutil.which("ssh") is None:
        pytest.skip("ansible-playbook is not installed (make install adds the ansible extra)")
    folder = tmp_path_factory.mktemp("parity")
    suffix = secrets.token_hex(2)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(boot, f"7-{tool}-{suffix}", folder, wheel)
                   for tool in ("ansible", "pyinfra")]  # fmt: skip
        booted = [f.exception() or f.result() for f in futures]
    try:
        failed = [b for b in booted if isinstance(b, BaseException)]
        if failed:
            raise failed[0]
        yield tuple(booted)
    finally:
        with ThreadPoolExecutor(2) as pool:
            for site in booted:
                if isinstance(site, Site):
                    pool.submit(testhost.teardown, site.host)
        report = REPO / "reports" / "e2e-ansible-parity-times.json"
        report.parent.mkdir(exist_ok=True)
        report.write_text(json.dumps(TIMES, indent=2) + "\n")
        print(f"\nansible/pyinfra e2e wall times (s): {TIMES}")


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


def test_the_playbook_brings_up_the_appliance_as_a_sudo_user(sites, first_runs):
    output = first_runs["ansible"]
    assert recap(output)["failed"] == 0 and recap(output)["changed"] > 0
    assert "claude mcp add" in output
    # the closing lines read the token through sudo: the env file is the service user's
    assert "sudo grep -m1 '^MCP_HTTP_TOKEN='" in output
    assert "--sudo" in output


def test_the_checklist_is_green_without_data_and_check_mode_changes_nothing(sites, first_runs):
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


def test_both_tools_leave_the_same_host(sites, first_runs):
    ansible, pyinfra = sites
    left = snapshot(pyinfra.host, pyinfra.settings)
    right = snapshot(ansible.host, ansible.settings)

    def allowed(aspect: str, line: str) -> bool:
        return aspect == "packages" and line.split(" ")[0] in ANSIBLE_ONLY_PACKAGES

    report = differences(left, right, ("pyinfra host", "ansible host"), allowed)
    assert not report, "the two deploys differ:\n" + "\n".join(report)
    # the snapshot saw a real appliance, not two empty answers
    assert "cogmem-svc" in left["modes and owners"] and "extension vector" in "".join(left.values())
