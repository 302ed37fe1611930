"""backup_postgres.sh and restore_postgres.sh against a real (embedded) PostgreSQL.

The URL comes from an env file the way the deploy writes it, with query parameters
(`?host=...&sslmode=disable`) that broke the original script's parsing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

import psycopg
import pytest

from provisioning.settings import REPO
from tests.support.ops import make_appliance

SCRIPTS = REPO / "scripts"


@pytest.fixture
def appliance(tmp_path, migrated_database):
    """A config folder whose .env.development points at a migrated database, and a dump folder."""
    settings, url = migrated_database
    made = make_appliance(tmp_path, settings.database.name, f"{url}&sslmode=disable")
    return url, made.backups, {**made.env, "COGMEM_BACKUP_RETENTION_DAYS": "3"}


def run(script: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=120
    )


def count_turns(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM l0_raw").fetchone()[0]


def test_old_dumps_go_and_the_newest_good_one_always_stays(appliance):
    url, backups, env = appliance
    database = urlsplit(url).path.lstrip("/")
    old, recent = backups / f"{database}_old.dump", backups / f"{database}_recent.dump"
    other = backups / "another_database_old.dump"
    for path in (old, recent, other):
        path.write_bytes(b"x")
    ten_days_ago = time.time() - 10 * 86400
    for path in (old, other):
        os.utime(path, (ten_days_ago, ten_days_ago))
    result = run("backup_postgres.sh", env)
    assert result.returncode == 0, result.stderr
    assert f"deleted old backup: {old}" in result.stdout
    assert not old.exists() and recent.exists() and other.exists()


def test_retention_never_deletes_the_newest_good_dump(tmp_path):
    from mcp_server.ops import dumps

    now = dt.datetime.now(dt.UTC)
    made = []
    for days in (30, 20, 10):  # every dump is older than the retention
        dump = dumps.Dump(tmp_path / f"cm_{dumps.stamp(now - dt.timedelta(days=days))}.dump")
        dump.path.write_bytes(b"dump")
        dump.manifest_path.write_text(
            json.dumps({"created_at": (now - dt.timedelta(days=days)).isoformat()})
        )
        dump.checksum_path.write_text(f"{dumps.sha256_of(dump.path)}  {dump.path.name}\n")
        made.append(dump)
    newest = dumps.newest_good(tmp_path, "cm")
    assert newest == made[-1]
    deleted = list(dumps.prune(tmp_path, "cm", 7, newest, now))
    assert deleted == [made[1].path, made[0].path]
    assert [d.path for d in dumps.listing(tmp_path, "cm")] == [made[-1].path]
    assert made[-1].checksum_path.exists() and not made[0].checksum_path.exists()


@pytest.mark.parametrize("script", ["backup_postgres.sh", "restore_postgres.sh"])
def test_the_scripts_are_thin_wrappers_over_the_command_line(script):
    text = (SCRIPTS / script).read_text()
    assert '-m mcp_server.cli "${args[@]}"' in text
    assert "PGPASSWORD" not in text and "DATABASE_URL" not in text


def test_the_password_goes_to_a_mode_600_passfile_not_to_the_environment(tmp_path):
    from mcp_server.ops import libpq_env

    env_file = tmp_path / ".env.production"
    env_file.write_text(
        'DATABASE_URL="postgresql://mcp_user:p%3Ass@[::1]:5433/cm?sslmode=require"\n'
    )
    env, password = libpq_env.parse(str(env_file))
    assert env == {"PGUSER": "mcp_user", "PGHOST": "::1", "PGPORT": "5433",
                   "PGDATABASE": "cm", "PGSSLMODE": "require"}  # fmt: skip
    assert password == "p:ss"
    passfile = tmp_path / "pgpass"
    libpq_env.write_passfile(str(passfile), env, password)
    assert passfile.stat().st_mode & 0o777 == 0o600
    assert passfile.read_text() == "\\:\\:1:5433:cm:mcp_user:p\\:ss\n"


def test_a_bad_environment_is_refused(appliance):
    _, _, env = appliance
    result = run("backup_postgres.sh", {**env, "ENVIRONMENT": "prod"})
    assert result.returncode == 2
    assert "Invalid ENVIRONMENT value: 'prod'" in result.stderr


def test_an_unknown_url_parameter_is_named(appliance, tmp_path):
    url, _, env = appliance
    (tmp_path / "config" / ".env.development").write_text(f"DATABASE_URL={url}&fancy=1\n")
    result = run("backup_postgres.sh", env)
    assert result.returncode != 0
    assert "fancy" in result.stderr
