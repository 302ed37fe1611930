"""Database setup: pgvector, identical schemas, the app role and its credentials."""

from __future__ import annotations

import pytest

from provisioning.checklist.support import (
    ENVIRONMENTS,
    app_command,
    app_python,
    database_of,
    psql_value,
)
from provisioning.settings import PROVISIONING

FINGERPRINT = (PROVISIONING / "sql" / "schema_fingerprint.sql").read_text()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_pgvector_is_installed(host, expected, environment):
    database = database_of(expected, environment)
    version = psql_value(
        host, expected, database, "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    )
    assert version, f"pgvector is missing in {database}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_database_is_owned_by_the_app_role(host, expected, environment):
    database = database_of(expected, environment)
    owner = psql_value(
        host,
        expected,
        "postgres",
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'",
    )
    assert owner == expected["cogmem_db_user"]


def test_both_databases_have_identical_schemas(host, expected):
    prints = {
        environment: psql_value(host, expected, database_of(expected, environment), FINGERPRINT)
        for environment in ENVIRONMENTS
    }
    assert len(set(prints.values())) == 1, prints


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_migration_is_applied(host, expected, environment):
    status = host.run(app_command(expected, environment, "db", "status", "--env", environment))
    assert status.rc == 0, status.stderr
    assert "applied" in status.stdout
    assert "pending" not in status.stdout, status.stdout


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_app_role_logs_in_with_the_rendered_credentials(host, expected, environment):
    code = (
        "import psycopg; from dotenv import dotenv_values; "
        f"url = dotenv_values('{expected['cogmem_prefix']}/config/.env.{environment}')"
        "['DATABASE_URL']; "
        "conn = psycopg.connect(url, connect_timeout=5); "
        "print(conn.info.user, conn.info.dbname)"
    )
    result = host.run(app_python(expected, environment, code))
    assert result.rc == 0, result.stderr.strip().splitlines()[-1:]
    assert result.stdout.split() == [expected["cogmem_db_user"], database_of(expected, environment)]


def test_the_app_role_must_use_scram_sha_256(host, expected):
    rules = psql_value(
        host,
        expected,
        "postgres",
        "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules "
        f"WHERE '{expected['cogmem_db_user']}' = ANY(user_name)",
    )
    assert rules == "scram-sha-256"
    method = psql_value(
        host,
        expected,
        "postgres",
        "SELECT left(rolpassword, 13) FROM pg_authid "
        f"WHERE rolname = '{expected['cogmem_db_user']}'",
    )
    assert method == "SCRAM-SHA-256"
