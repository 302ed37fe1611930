"""Infrastructure: the host, PostgreSQL and its network exposure, disk space."""

from __future__ import annotations

import pytest

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
    from provisioning.checklist.support import listening_sockets

    port = expected["postgresql_port"]
    wanted = {a.strip() for a in expected["postgresql_listen_address"].split(",")}
    on_port = {address for address, p in listening_sockets(host) if p == port}
    if wanted & {"*", "0.0.0.0", "::"}:
        assert on_port, f"nothing listens on port {port}"
        return
    for address in wanted:
        names = {"127.0.0.1", "::1"} if address == "localhost" else {address}
        assert names & on_port, f"port {port}: not on {address} (listening on {sorted(on_port)})"
    assert not on_port & {"0.0.0.0", "::"}, f"port {port} listens on every address"


def test_postgresql_runs_on_the_huge_pages_it_reserved(host, expected):
    from provisioning import huge_pages
    from provisioning.checklist.support import psql_value

    if not expected["postgresql_huge_pages"]:
        pytest.skip("postgresql_huge_pages is false: shared memory on normal pages")
    fact = host.check_output(huge_pages.FACT)
    wanted = huge_pages.reservation(fact, expected["postgresql_shared_buffers"])
    if not wanted:
        pytest.skip("this host cannot reserve huge pages (a container shares its host's kernel)")
    reserved = int(host.file("/proc/sys/vm/nr_hugepages").content_string)
    status = psql_value(host, expected, "postgres", "SHOW huge_pages_status")
    print(f"vm.nr_hugepages {reserved} (wanted {wanted}), huge_pages_status {status}")
    assert reserved >= wanted, f"the kernel holds {reserved} of {wanted} huge pages: free memory"
    assert status == "on", "PostgreSQL started on normal pages: restart it (systemctl restart)"


@pytest.mark.parametrize("folder", ["/var/lib/postgresql", "/var/backups"])
def test_free_disk_space_is_above_the_floor(host, expected, folder):
    floor = expected["cogmem_min_free_disk_gb"]
    free = int(host.check_output(f"df -B1 --output=avail {folder} | tail -1")) / 1024**3
    print(f"{folder}: {free:.1f} GB free")
    assert free >= floor, f"{folder}: only {free:.1f} GB free, need {floor} GB"
