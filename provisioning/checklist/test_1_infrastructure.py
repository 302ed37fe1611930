"""Infrastructure: the host, PostgreSQL and its network exposure, disk space."""

from __future__ import annotations

import pytest

MIN_FREE_BYTES = 10 * 1024**3
MIN_POSTGRESQL = 15


def test_the_host_runs_debian_or_ubuntu(host):
    assert host.system_info.distribution in ("debian", "ubuntu"), host.system_info.distribution


def test_postgresql_is_at_least_15_and_the_configured_version(host, expected):
    from provisioning.checklist.support import psql_value

    number = int(psql_value(host, expected, "postgres", "SHOW server_version_num"))
    assert number // 10000 >= MIN_POSTGRESQL
    assert number // 10000 == expected["postgresql_version"]


def test_postgresql_is_running_and_starts_at_boot(host, expected):
    cluster = host.service(f"postgresql@{expected['postgresql_version']}-main")
    assert cluster.is_running
    assert host.service("postgresql").is_enabled


def test_postgresql_listens_on_the_configured_address_only(host, expected):
    port = expected["postgresql_port"]
    address = expected["postgresql_listen_address"]
    assert host.socket(f"tcp://{address}:{port}").is_listening
    for wildcard in ("0.0.0.0", "::"):
        if address not in ("*", wildcard):
            assert not host.socket(f"tcp://{wildcard}:{port}").is_listening


@pytest.mark.parametrize("folder", ["/var/lib/postgresql", "/var/backups"])
def test_free_disk_space_is_at_least_10_gb(host, folder):
    free = int(host.check_output(f"df -B1 --output=avail {folder} | tail -1"))
    print(f"{folder}: {free / 1024**3:.1f} GB free")
    assert free >= MIN_FREE_BYTES, f"{folder}: only {free / 1024**3:.1f} GB free, need 10 GB"
