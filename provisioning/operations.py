"""Operations pyinfra does not have, each idempotent: it yields commands only for a change.

They read their facts when they run (pyinfra 3 runs an operation's body at execution time),
so they see what the operations before them did: the role the previous step created, the
schema the migration just wrote.
"""

from __future__ import annotations

import hashlib
import shlex
from contextlib import contextmanager
from io import StringIO
from pathlib import Path, PurePath
from typing import Any

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.facts.files import File, Sha256File

from provisioning import credentials, render
from provisioning.facts import (
    AppliedMigrations,
    DatabaseExtensions,
    HostSecrets,
    InstalledVersion,
    RolePassword,
    SchemaFingerprint,
    psql_as_postgres,
)

# A root-only folder on tmpfs for the one file that carries a password verifier to psql.
RUN_DIR = "/run/cognitive-memory-deploy"


@contextmanager
def _quiet():
    """Keep pyinfra from printing fact output (-vvv) while secrets pass through it."""
    before = state.print_fact_output
    state.print_fact_output = False
    try:
        yield
    finally:
        state.print_fact_output = before


def quiet_fact(fact, **kwargs):
    with _quiet():
        return host.get_fact(fact, **kwargs)


def appliance_secrets(settings: dict[str, Any], deployer: dict[str, str]):
    state_on_host = quiet_fact(HostSecrets, config_dir=f"{settings['cogmem_prefix']}/config")
    return credentials.choose(state_on_host, deployer)


def _secret_upload(dest: str, content: str, user: str, group: str, mode: str = "600"):
    """Write a file whose content must never be printed: no diff, no content in any command."""
    remote = host.get_fact(File, path=dest)
    digest = hashlib.sha256(content.encode()).hexdigest()
    if not remote:
        # Create it empty with its final owner and mode first, so it is never readable by others.
        yield StringCommand("install", "-m", mode, "-o", user, "-g", group, "/dev/null", dest)
    if not remote or host.get_fact(Sha256File, path=dest) != digest:
        yield FileUploadCommand(StringIO(content), dest)
    if remote and (remote.get("user") != user or remote.get("group") != group):
        yield StringCommand("chown", f"{user}:{group}", dest)
    if remote and remote.get("mode") != int(mode):
        yield StringCommand("chmod", mode, dest)


@operation()
def env_file(
    environment: str, settings: dict[str, Any], deployer: dict[str, str]
):  # pyinfra operations are generators of commands
    """Render config/.env.<environment> with the host's own password and token (mode 600).

    + environment: production or development
    + settings: the resolved deploy settings
    + deployer: API keys and alert settings the deployer gave
    """
    chosen = appliance_secrets(settings, deployer)
    content = render.env_file(
        settings,
        environment,
        db_password=chosen.db_password,
        token=chosen.tokens[environment],
        secrets=chosen.keys[environment],
    )
    user = settings["cogmem_user"]
    dest = f"{settings['cogmem_prefix']}/config/.env.{environment}"
    yield from _secret_upload(dest, content, user, user)


@operation()
def role_password(settings: dict[str, Any]):
    """Give the app's role the password the env files hold (as a SCRAM verifier, via stdin).

    + settings: the resolved deploy settings
    """
    chosen = appliance_secrets(settings, {})
    role, port = settings["cogmem_db_user"], settings["postgresql_port"]
    stored = quiet_fact(RolePassword, role=role, port=port)
    if stored is not None and credentials.verifies(chosen.db_password, stored):
        host.noop(f"role {role} already has the password of the env files")
        return
    verifier = credentials.scram_verifier(chosen.db_password)
    sql_file = f"{RUN_DIR}/role.sql"
    yield StringCommand("install", "-d", "-m", "700", RUN_DIR)
    yield FileUploadCommand(StringIO(f"ALTER ROLE \"{role}\" PASSWORD '{verifier}';\n"), sql_file)
    psql = shlex.join(psql_as_postgres("postgres", port))
    yield StringCommand(f"{psql} < {sql_file}; status=$?; rm -f {sql_file}; exit $status")


@operation()
def extension(database: str, extension_name: str, port: int):
    """Create an extension in a database unless it is there (as `postgres`).

    + database: the database
    + extension_name: the extension, e.g. vector
    + port: the cluster's port
    """
    name = extension_name
    installed = host.get_fact(DatabaseExtensions, database=database, port=port)
    if installed is not None and name in installed:
        host.noop(f"extension {name} exists in {database}")
        return
    create = f'CREATE EXTENSION IF NOT EXISTS "{name}"'
    yield StringCommand(shlex.join(psql_as_postgres(database, port, "-c", create)))


@operation()
def migrations(environment: str, database: str, expected: list[int], settings: dict[str, Any]):
    """Apply pending migrations with the app's own command, as the service user.

    + environment: production or development
    + database: that environment's database
    + expected: migration versions this release ships
    + settings: the resolved deploy settings
    """
    applied = host.get_fact(AppliedMigrations, database=database, port=settings["postgresql_port"])
    pending = sorted(set(expected) - (applied or set()))
    if applied is not None and not pending:
        host.noop(f"{database}: schema is current")
        return
    prefix, user = settings["cogmem_prefix"], settings["cogmem_user"]
    environ = [f"ENVIRONMENT={environment}", f"COGMEM_CONFIG_DIR={prefix}/config"]
    migrate = [f"{prefix}/venv/bin/cognitive-memory", "db", "migrate", "--env", environment]
    command = ["runuser", "-u", user, "--", "env", *environ, "COGMEM_LOG_LEVEL=WARNING", *migrate]
    yield StringCommand(shlex.join(command))


@operation()
def same_schema(databases: list[str], port: int, query: str):
    """Fail unless every database has the same schema; changes nothing.

    + databases: the databases to compare
    + port: the cluster's port
    + query: SQL returning one digest of a schema
    """
    if not state.is_executing:
        return  # the databases may not exist before this run executes
    prints = {
        db: host.get_fact(SchemaFingerprint, database=db, port=port, query=query)
        for db in databases
    }
    if len(set(prints.values())) != 1 or None in prints.values():
        detail = ", ".join(f"{db}: {digest or 'unreadable'}" for db, digest in prints.items())
        raise OperationError(f"the databases' schemas differ ({detail})")
    host.noop(f"{' and '.join(databases)} have identical schemas")
    return
    yield  # a generator that yields nothing: no change


@operation()
def package_installed(venv: str, package: str, version: str, install: str):
    """Install a package into a virtualenv unless that version is there.

    + venv: the virtualenv
    + package: distribution name
    + version: the version that must be installed
    + install: the shell command that installs it
    """
    if host.get_fact(InstalledVersion, venv=venv, package=package) == version:
        host.noop(f"{package} {version} is installed")
        return
    yield StringCommand(install)


@operation()
def restore_dump(settings: dict[str, Any], dump: str):
    """Restore a dump into the production database while it has no schema (a new host).

    + settings: the resolved deploy settings
    + dump: path of a pg_dump -Fc file on the control machine
    """
    database, port = settings["cogmem_db_name"], settings["postgresql_port"]
    if host.get_fact(AppliedMigrations, database=database, port=port):
        host.noop(f"{database} has a schema already: the dump is not restored over it")
        return
    user, prefix = settings["cogmem_user"], settings["cogmem_prefix"]
    target = f"{settings['cogmem_backup_dir']}/postgres/restore-{PurePath(dump).name}"
    # the dump holds every memory: create it closed before its content arrives; its checksum
    # and manifest travel with it (the restore refuses a dump without a matching sha256)
    for suffix in ("", ".sha256", ".json"):
        local = Path(dump + suffix).resolve()
        if suffix and not local.is_file():
            continue
        remote = target + suffix
        yield StringCommand("install", "-m", "600", "-o", user, "-g", user, "/dev/null", remote)
        yield FileUploadCommand(str(local), remote)
    environ = [
        "ENVIRONMENT=production",
        f"COGMEM_CONFIG_DIR={prefix}/config",
        f"PATH={prefix}/venv/bin:/usr/bin:/bin",
    ]
    restore = [f"{prefix}/bin/restore_postgres.sh", "--yes", target]
    yield StringCommand(shlex.join(["runuser", "-u", user, "--", "env", *environ, *restore]))
