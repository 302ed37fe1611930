"""The app's role and its two databases: pgvector in both, migrated alike, checked alike."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import postgres

from provisioning.components import DEFAULTS, settings
from provisioning.operations import (
    extension,
    migrations,
    restore_dump,
    role_password,
    same_schema,
)
from provisioning.settings import PROVISIONING

FINGERPRINT = (PROVISIONING / "sql" / "schema_fingerprint.sql").read_text()


@deploy("Databases", data_defaults=DEFAULTS)
def databases(migration_versions: list[int]) -> None:
    s = settings()
    role, port = s["cogmem_db_user"], s["postgresql_port"]
    environments = {"production": s["cogmem_db_name"], "development": s["cogmem_dev_db_name"]}

    # Install: the role and the databases
    postgres.role(
        name=f"Ensure the login role {role}, allowed to create databases (restores swap them)",
        role=role,
        login=True,
        createdb=True,
        psql_port=port,
        _su_user="postgres",
    )
    role_password(
        name=f"Give {role} the password of the env files (SCRAM verifier over stdin)",
        settings=s,
    )
    for database in environments.values():
        postgres.database(
            name=f"Ensure the database {database}, owned by {role}",
            database=database,
            owner=role,
            template="template0",
            encoding="UTF8",
            psql_port=port,
            _su_user="postgres",
        )

    # Configure: pgvector (needs the superuser; in template1 so that the databases a restore
    # creates have it), a given backup (a new host only), the schema
    for database in ("template1", *environments.values()):
        extension(
            name=f"Ensure pgvector is installed in {database}",
            database=database,
            extension_name="vector",
            port=port,
        )
    if s["cogmem_restore_dump"]:
        restore_dump(
            name=f"Restore {s['cogmem_restore_dump']} into {s['cogmem_db_name']} if it is new",
            settings=s,
            dump=s["cogmem_restore_dump"],
        )
    for environment, database in environments.items():
        migrations(
            name=f"Apply pending migrations to {database}",
            environment=environment,
            database=database,
            expected=migration_versions,
            settings=s,
        )

    # Activate: nothing runs here; check what the server will rely on
    same_schema(
        name=f"Check that {' and '.join(environments.values())} have identical schemas",
        databases=list(environments.values()),
        port=port,
        query=FINGERPRINT,
    )
