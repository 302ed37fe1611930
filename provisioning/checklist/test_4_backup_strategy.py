"""Backup strategy: folders closed to others, the scripts, a sealed dump that pg_restore reads,
a newest good dump younger than cogmem_backup_max_age_hours (else: a red line), and (with a
backup host) WAL archived there, a full backup there, copies accepted there."""

from __future__ import annotations

import json
import shlex

import pytest

from provisioning.checklist.support import app_command, as_service_user, psql_value

SCRIPTS = ["backup_postgres.sh", "restore_postgres.sh", "offsite_sync.sh"]


@pytest.mark.parametrize(
    "sub", [".", "postgres", "l2-exports", "jobs"], ids=["root", "postgres", "l2-exports", "jobs"]
)
def test_the_backup_folder_is_mode_700(host, expected, sub):
    folder = host.file(f"{expected['cogmem_backup_dir']}/{sub}")
    assert folder.is_directory
    assert folder.mode == 0o700
    assert folder.user == expected["cogmem_user"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_is_installed(host, expected, script):
    installed = host.file(f"{expected['cogmem_prefix']}/bin/{script}")
    assert installed.is_file
    assert installed.mode & 0o111
    assert installed.user == "root"


def test_the_backup_script_writes_a_dump_pg_restore_reads(host, expected):
    folder = f"{expected['cogmem_backup_dir']}/postgres"
    backup = as_service_user(
        expected,
        "production",
        "env",
        f"PATH={expected['cogmem_prefix']}/venv/bin:/usr/bin:/bin",
        f"COGMEM_BACKUP_DIR={folder}",
        f"COGMEM_BACKUP_RETENTION_DAYS={expected['cogmem_backup_retention_days']}",
        f"{expected['cogmem_prefix']}/bin/backup_postgres.sh",
    )
    result = host.run(backup)
    assert result.rc == 0, result.stderr
    written = result.stdout.split("backup written: ", 1)[1].split(" (")[0]
    assert written.startswith(f"{folder}/{expected['cogmem_db_name']}_")
    assert host.file(written).mode == 0o600
    listing = host.run(f"pg_restore --list {shlex.quote(written)}")
    assert listing.rc == 0 and "TABLE public l0_raw" in listing.stdout
    folder, name = written.rsplit("/", 1)
    checked = host.run(f"cd {shlex.quote(folder)} && sha256sum -c {shlex.quote(name)}.sha256")
    assert checked.rc == 0, checked.stdout  # the dump and its manifest (row counts)
    assert checked.stdout.split() == [f"{name}:", "OK", f"{name}.json:", "OK"], checked.stdout


def test_the_newest_good_backup_is_fresh(host, expected):
    limit = expected["cogmem_backup_max_age_hours"]
    check = host.run(app_command(
        expected, "production", "backup", "check", "--json", "--max-age-hours", str(limit),
        "--dir", f"{expected['cogmem_backup_dir']}/postgres",
    ))  # fmt: skip
    assert check.rc == 0, f"no good dump younger than {limit} h: {check.stdout}{check.stderr}"
    assert json.loads(check.stdout)["fresh"] is True


# --- off-host: the backup host (cogmem_backup_host) ---------------------------------------------


@pytest.fixture
def backup_host(expected) -> str:
    if not expected["cogmem_backup_host"]:
        pytest.skip("no backup host configured (cogmem_backup_host): backups stay on this host")
    return expected["cogmem_backup_host"]


def _pgbackrest(*args: str) -> str:
    command = ["runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=cognitive-memory", *args]
    return "cd / && " + shlex.join(command)


def test_wal_reaches_the_backup_host_pgbackrest_check(host, backup_host):
    result = host.run(_pgbackrest("check"))
    assert result.rc == 0, f"pgbackrest check failed:\n{result.stderr}{result.stdout}"


def test_the_backup_host_holds_a_full_backup(host, backup_host):
    result = host.run(_pgbackrest("info", "--output=json"))
    assert result.rc == 0, result.stderr
    stanza = json.loads(result.stdout)[0]
    assert stanza["status"]["code"] == 0, stanza["status"]["message"]
    assert any(b["type"] == "full" and not b["error"] for b in stanza["backup"])


def test_wal_is_archived_at_least_every_archive_timeout(host, expected, backup_host):
    seconds = psql_value(
        host, expected, "postgres", "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'"
    )
    assert int(seconds) == expected["cogmem_pitr_archive_timeout"]
    assert psql_value(host, expected, "postgres", "SHOW archive_mode") == "on"


def test_the_backup_host_takes_copies(host, expected, backup_host):
    check = as_service_user(
        expected,
        "production",
        "env",
        f"COGMEM_OFFSITE_DIR={expected['cogmem_prefix']}/offsite",
        f"{expected['cogmem_prefix']}/bin/offsite_sync.sh",
        "--check",
    )
    result = host.run(check)
    assert result.rc == 0, result.stderr
