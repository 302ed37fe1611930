"""Service: the systemd unit is valid, hardened, enabled, active, and says it is in production."""

from __future__ import annotations

import re

import pytest

from provisioning.checklist.support import UNIT, journal, listens_on

MAX_EXPOSURE = 2.0


def test_the_unit_passes_systemd_analyze_verify(host):
    # its messages through stdout: stderr also carries the SSH client's own warnings
    result = host.run(f"systemd-analyze verify /etc/systemd/system/{UNIT} 2>&1")
    assert result.rc == 0 and not result.stdout.strip(), result.stdout


def test_the_service_is_enabled_and_active(host):
    service = host.service(UNIT)
    assert service.is_enabled, journal(host)
    assert service.is_running, journal(host)


def _properties(expected) -> dict[str, str]:
    prefix = expected["cogmem_prefix"]
    return {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "WatchdogUSec": f"{expected['cogmem_watchdog_sec']}s",
        "RestartUSec": f"{expected['cogmem_restart_sec']}s",
        "User": expected["cogmem_user"],
        "Environment": f"ENVIRONMENT=production COGMEM_CONFIG_DIR={prefix}/config",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "OnFailure": f"cognitive-memory-alert@{UNIT}.service",
    }


PROPERTIES = list(_properties({"cogmem_prefix": "", "cogmem_watchdog_sec": 0,
                               "cogmem_restart_sec": 0, "cogmem_user": ""}))  # fmt: skip


@pytest.mark.parametrize("name", PROPERTIES)
def test_the_unit_sets(host, expected, name):
    value = host.check_output(f"systemctl show -p {name} --value {UNIT}")
    want = _properties(expected)[name]
    if name == "Environment":
        assert set(want.split()) <= set(value.split()), value
    elif name.endswith("USec"):
        assert _seconds(value) == _seconds(want), value
    else:
        assert value == want


def _seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|h)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "min": 60, "h": 3600}[unit]
    return total


def test_the_unit_exposure_is_at_most_2(host):
    report = host.run(f"systemd-analyze security {UNIT} --no-pager")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report.stdout)
    assert match, report.stdout + report.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, report.stdout


def test_the_server_logs_production_environment_loaded_at_info(host):
    invocation = host.check_output(f"systemctl show -p InvocationID --value {UNIT}")
    lines = host.run(f"journalctl _SYSTEMD_INVOCATION_ID={invocation} -o cat --no-pager").stdout
    started = [line for line in lines.splitlines() if "Production environment loaded" in line]
    assert started, journal(host)
    assert '"level": "INFO"' in started[0]
    assert '"level": "DEBUG"' not in lines


def test_the_server_listens_on_loopback(host, expected):
    address, port = expected["cogmem_http_host"], expected["cogmem_http_port"]
    assert listens_on(host, address, port), journal(host)
