"""Off-host backup settings and templates: checked before a host changes, rendered from defaults."""

from __future__ import annotations

import re
import subprocess

import pytest

from provisioning import render
from provisioning import settings as s
from provisioning.settings import DEFAULTS, REPO

WITH_BACKUP_HOST = {
    **DEFAULTS,
    "cogmem_backup_host": "vault",
    "cogmem_backup_host_address": "10.0.0.7",
    "cogmem_backup_host_port": 2222,
    "cogmem_backup_name": "memory-1",
}


@pytest.mark.parametrize(
    "wanted", ["dump", "latest", "2026-11-26 01:30:00+00", "2026-11-26T01:30:00.123456Z"]
)
def test_a_restore_source_on_the_backup_host_is_accepted(wanted):
    resolved = s.resolve({"cogmem_backup_host": "vault", "cogmem_restore_from": wanted})
    assert resolved["cogmem_restore_from"] == wanted


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cogmem_backup_host": "vault", "cogmem_restore_from": "yesterday"}, "dump, latest or"),
        ({"cogmem_restore_from": "latest"}, "needs cogmem_backup_host"),
        ({"cogmem_backup_host": "vault; rm -rf /"}, "host name"),
        ({"cogmem_backup_name": "../other"}, "letters, digits"),
        ({"cogmem_backup_root": "/srv"}, "absolute path of its own"),
        ({"cogmem_backup_account": "root"}, "not a user name"),
        ({"cogmem_pitr_retention_full": 0}, "at least 1"),
        ({"cogmem_cron_pitr_full": "sundays"}, "cron schedule"),
    ],
    ids=[
        "unknown-restore-source", "restore-without-backup-host", "shell-in-host",
        "name-leaves-the-folder", "root-of-all-services", "root-account", "no-full-backup",
        "bad-schedule",
    ],
)  # fmt: skip
def test_bad_offsite_settings_are_refused_with_the_key(data, message):
    with pytest.raises(s.SettingsError, match=message):
        s.resolve(data)


def test_a_dump_from_here_and_a_restore_from_there_exclude_each_other(tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    (tmp_path / "x.dump.sha256").write_text("0" * 64 + "  x.dump\n")
    with pytest.raises(s.SettingsError, match="choose one"):
        s.resolve(
            {
                "cogmem_backup_host": "vault",
                "cogmem_restore_from": "dump",
                "cogmem_restore_dump": str(dump),
            }
        )


def _cron_jobs(text: str) -> dict[str, tuple[str, str, str]]:
    """{journal tag: (schedule, user, command)} of the cron file's jobs."""
    jobs = {}
    for line in text.splitlines():
        match = re.match(r"^(\S+ \S+ \S+ \S+ \S+) (\S+) systemd-cat -t (\S+) (.*)$", line)
        if match:
            jobs.setdefault(match.group(3), []).append(
                (match.group(1), match.group(2), match.group(4))
            )
    return jobs


def test_without_a_backup_host_no_offsite_job_is_scheduled():
    jobs = _cron_jobs(render.render("cron.d.j2", DEFAULTS))
    assert "cognitive-memory-pitr" not in jobs and "cognitive-memory-offsite" not in jobs


def test_with_a_backup_host_backups_run_as_postgres_and_copies_as_the_service_user():
    jobs = _cron_jobs(render.render("cron.d.j2", WITH_BACKUP_HOST))
    full, diff = jobs["cognitive-memory-pitr"]
    # root only watches (the alert needs the env file); pgBackRest itself runs as postgres
    assert full[:2] == (DEFAULTS["cogmem_cron_pitr_full"], "root")
    assert diff[:2] == (DEFAULTS["cogmem_cron_pitr_diff"], "root")
    assert "job pitr-full -- /usr/sbin/runuser -u postgres -- pgbackrest" in full[2]
    assert full[2].endswith("--type=full backup") and diff[2].endswith("--type=diff backup")
    ((schedule, user, command),) = jobs["cognitive-memory-offsite"]
    assert (schedule, user) == (DEFAULTS["cogmem_cron_offsite"], DEFAULTS["cogmem_user"])
    assert " job offsite -- " in command and command.endswith("/bin/offsite_sync.sh")


def test_pgbackrest_reaches_only_the_pinned_backup_host():
    conf = dict(
        line.split("=", 1)
        for line in render.render("pgbackrest.conf.j2", WITH_BACKUP_HOST).splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert conf["repo1-type"] == "sftp"
    assert (conf["repo1-sftp-host"], conf["repo1-sftp-host-port"]) == ("10.0.0.7", "2222")
    assert conf["repo1-sftp-host-key-check-type"] == "strict"
    assert conf["repo1-path"] == f"{DEFAULTS['cogmem_backup_root']}/memory-1/pgbackrest"
    assert conf["repo1-retention-full"] == str(DEFAULTS["cogmem_pitr_retention_full"])
    assert conf["pg1-port"] == str(DEFAULTS["postgresql_port"])


def test_wal_is_archived_within_the_archive_timeout():
    text = render.render("postgresql-archive.conf.j2", WITH_BACKUP_HOST)
    assert "archive_mode = on" in text
    assert f"archive_timeout = {DEFAULTS['cogmem_pitr_archive_timeout']}" in text
    assert "pgbackrest --stanza=cognitive-memory archive-push %p" in text


def test_the_copies_use_the_pinned_keys_and_never_ask():
    text = render.render("offsite_ssh_config.j2", WITH_BACKUP_HOST)
    assert "StrictHostKeyChecking yes" in text and "BatchMode yes" in text
    assert "HostName 10.0.0.7" in text and "Port 2222" in text


def test_the_offsite_script_refuses_to_run_without_a_backup_host(tmp_path):
    script = REPO / "scripts" / "offsite_sync.sh"
    result = subprocess.run(
        [str(script), "--check"],
        env={"COGMEM_OFFSITE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no backup host configured" in result.stderr and "cogmem_backup_host" in result.stderr
