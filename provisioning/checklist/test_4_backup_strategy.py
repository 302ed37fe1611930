"""Backup strategy: folders closed to others, the scripts, a sealed dump that pg_restore reads,
and a newest good dump younger than cogmem_backup_max_age_hours (else: a red line)."""

from __future__ import annotations

import json
import shlex

import pytest

from provisioning.checklist.support import app_command, as_service_user

SCRIPTS = ["backup_postgres.sh", "restore_postgres.sh"]


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
