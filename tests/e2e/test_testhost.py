"""The throwaway test host boots a real systemd, answers SSH with its key, and leaves nothing.

Needs root, debootstrap and systemd-nspawn; the first run builds the cached image (~1 min).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

from provisioning import testhost

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]


def require_root_and_tools() -> None:
    try:
        testhost.check_requirements()
    except testhost.TestHostError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def host():
    require_root_and_tools()
    host = testhost.boot()
    yield host
    testhost.teardown(host)  # a no-op when test_teardown_leaves_nothing already ran


def test_systemd_runs_as_pid_1(host):
    state = host.run("systemctl is-system-running --wait", timeout=60)
    assert state.stdout.strip() in ("running", "degraded"), host.run("systemctl --failed").stdout
    assert host.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"


def test_root_logs_in_with_the_generated_key(host):
    assert os.stat(host.key_path).st_mode & 0o777 == 0o600
    result = host.ssh("id -un; hostname", timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["root", host.name]


def test_testinfra_sees_debian_13(host):
    remote = testinfra.get_host(host.ssh_url, ssh_config=str(host.ssh_config_path))
    assert "trixie" in remote.file("/etc/os-release").content_string
    assert remote.service("ssh").is_running
    assert not remote.package("cron").is_installed  # the deploy must install what it needs


def test_pyinfra_host_data_points_at_the_ssh_port(host):
    address, data = host.pyinfra_host_data()
    assert (address, data["ssh_user"], data["ssh_port"]) == ("127.0.0.1", "root", host.ssh_port)
    assert Path(data["ssh_key"]) == host.key_path


def test_teardown_leaves_nothing(host):
    testhost.teardown(host)
    assert testhost.leftovers(host) == []


def test_a_second_host_boots_after_the_first(host):
    with testhost.throwaway_host() as second:
        assert second.ssh("true", timeout=30).returncode == 0
    assert testhost.leftovers(second) == []


def test_down_removes_a_host_left_by_a_crashed_run():
    require_root_and_tools()
    crashed = testhost.boot()
    os.kill(crashed.nspawn_pid, signal.SIGKILL)  # the controller dies; the container lives on
    assert crashed.run("true").returncode == 0
    subprocess.run(
        [sys.executable, "-m", "provisioning.testhost", "down", "--name", crashed.name],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    assert testhost.leftovers(crashed) == []
