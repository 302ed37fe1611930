"""The backup host as an appliance sees it, and the operations that reach across to it.

An appliance names a host of the inventory group `backup_hosts` in `cogmem_backup_host`. Both are
deployed by the same pyinfra run: the appliance makes its SSH keys (never shown), the backup
host authorizes them, the appliance pins the backup host's own keys. Operations read the other
host's facts when they run, and `keys_exchanged` makes every host wait for the others there.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from pyinfra import host, state
from pyinfra.api import FactBase, OperationError, StringCommand, operation
from pyinfra.api.host import Host
from pyinfra.facts.files import Directory, File, FileContents

# The names and paths both tools share; the components use them through this module.
from provisioning.backup_target import (  # noqa: F401
    GROUP,
    KEY,
    POSTGRES_SSH,
    STANZA,
    Target,
    authorized_line,
    backup_name,
    effective,
    key_files,
    known_hosts_lines,
    locate,
    not_in_group,
    offsite_dir,
)
from provisioning.facts import AppliedMigrations, psql_as_postgres
from provisioning.settings import resolve


def is_backup_host(h: Host | None = None) -> bool:
    return GROUP in (h or host).groups


def target(s: dict[str, Any], name: str | None = None) -> Target | None:
    """The backup host of the settings `s` (of host `name`), None when backups stay local."""
    if not s["cogmem_backup_host"]:
        return None
    wanted = s["cogmem_backup_host"]
    backup = state.inventory.get_host(wanted, default=None)
    if backup is None or not is_backup_host(backup):
        raise not_in_group(wanted, f"`{GROUP} = [({wanted!r}, {{'ssh_user': 'root'}})]`")
    b = resolve(backup.data.dict(), source=f"host data of {wanted}")
    data = backup.data
    address = data.get("ssh_hostname") or wanted
    return locate(s, name or host.name, b, address, int(data.get("ssh_port") or 22))


def clients(backup: Host) -> list[tuple[Host, Target]]:
    """The appliances of this run that back up to `backup`."""
    found = []
    for other in state.inventory:
        if is_backup_host(other):
            continue
        s = resolve(other.data.dict(), source=f"host data of {other.name}")
        if s["cogmem_backup_host"] == backup.name:
            found.append((other, target(s, other.name)))
    return found


# --- facts -----------------------------------------------------------------------------------


class HostKeys(FactBase):
    """The host's SSH host public keys (`type base64` lines)."""

    def command(self) -> str:
        return "cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null || true"

    def process(self, output: list[str]) -> list[str]:
        return sorted(" ".join(line.split()[:2]) for line in output if line.strip())


class PgBackRestInfo(FactBase):
    """`pgbackrest info` of the stanza as JSON; None when the repository cannot be read."""

    def command(self, stanza: str) -> str:
        info = shlex.join(
            ["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={stanza}", "info"]
        )
        return f"cd / && {{ {info} --output=json 2>/dev/null || echo null; }}"

    def process(self, output: list[str]):
        try:
            document = json.loads("\n".join(output))
        except ValueError:
            return None
        return document[0] if document else None


# --- operations --------------------------------------------------------------------------------


@operation()
def ssh_key(user: str, path: str, comment: str):
    """Make an ed25519 key pair for `user` unless it exists; the private key never leaves.

    + user: the owner
    + path: the private key (the public one gets .pub)
    + comment: the public key's comment
    """
    if host.get_fact(File, path=path) and host.get_fact(File, path=f"{path}.pub"):
        host.noop(f"{path} exists")
        return
    yield StringCommand(
        "runuser", "-u", user, "--", "ssh-keygen", "-q", "-t", "ed25519", "-N", "''",
        "-C", comment, "-f", path,
    )  # fmt: skip


@operation()
def keys_exchanged():
    """Every host of the run reaches this step before any goes on: the keys are in place."""
    host.noop("keys exchanged")
    return
    yield


@operation()
def authorize_appliances(account: str, home: str):
    """Authorize the backup keys of every appliance that names this host (read when it runs).

    + account: the backup account
    + home: its home, holding .ssh/authorized_keys
    """
    path = f"{home}/.ssh/authorized_keys"
    present = set(host.get_fact(FileContents, path=path) or [])
    for appliance, where in clients(host):
        s = resolve(appliance.data.dict())
        for user, key in key_files(s).items():
            public = appliance.get_fact(FileContents, path=f"{key}.pub")
            if not public:
                raise OperationError(f"{appliance.name} has no key {key}.pub yet")
            line = authorized_line(public[0], user, appliance.name)
            if line in present:
                continue
            yield StringCommand(f"echo {shlex.quote(line)} >> {shlex.quote(path)}")
            present.add(line)
        for sub in ("", "/pgbackrest", "/postgres", "/l2-exports"):
            folder = f"{where.folder}{sub}"
            found = host.get_fact(Directory, path=folder)
            if found and (found["user"], found["group"], found["mode"]) == (account, account, 700):
                continue
            yield StringCommand("install", "-d", "-m", "700", "-o", account, "-g", account, folder)


@operation()
def known_hosts(where: Target, path: str, user: str):
    """Pin the backup host's own keys for `user`: connections to anything else fail.

    + where: the backup host as this host sees it
    + path: the known_hosts file
    + user: its owner
    """
    backup = state.inventory.get_host(where.host)
    keys = backup.get_fact(HostKeys)
    if not keys:
        raise OperationError(f"{where.host} has no SSH host keys in /etc/ssh")
    wanted = known_hosts_lines(where, keys)
    if (host.get_fact(FileContents, path=path) or []) == wanted:
        host.noop(f"{path} pins {where.host}")
        return
    text = "\n".join(wanted) + "\n"
    yield StringCommand(f"printf %s {shlex.quote(text)} > {shlex.quote(path)}")
    yield StringCommand("chown", f"{user}:{user}", path)
    yield StringCommand("chmod", "644", path)


@operation()
def pitr_restore(settings: dict[str, Any], wanted: str):
    """Restore a new host's cluster from the repository on the backup host (pgBackRest).

    + settings: the resolved deploy settings
    + wanted: `latest` or a recovery target time
    """
    port, version = settings["postgresql_port"], settings["postgresql_version"]
    if host.get_fact(AppliedMigrations, database=settings["cogmem_db_name"], port=port):
        host.noop(f"{settings['cogmem_db_name']} has a schema already: nothing is restored")
        return
    # latest: replay all archived WAL, then promote (a target action needs a target)
    target_args = (
        []
        if wanted == "latest"
        else ["--type=time", f"--target={wanted}", "--target-action=promote"]
    )
    restore = [
        "runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={STANZA}", "--delta",
        *target_args, "restore",
    ]  # fmt: skip
    unit = f"postgresql@{version}-main.service"
    promoted = shlex.join(psql_as_postgres("postgres", port, "-Atc", "SELECT pg_is_in_recovery()"))
    yield StringCommand(f"cd / && systemctl stop {unit} && {shlex.join(restore)}")
    yield StringCommand(f"systemctl start {unit}")
    # recovery replays the archived WAL, then promotes: wait until it accepts writes
    yield StringCommand(
        f'cd / && for i in $(seq 600); do [ "$({promoted} 2>/dev/null)" = f ] && exit 0; '
        f"sleep 1; done; echo 'recovery did not finish within 10 minutes' >&2; exit 1"
    )


@operation()
def first_full_backup():
    """Take a full pgBackRest backup unless the repository holds one of this cluster's database
    (the base of recovery; a stanza taken over after a dump restore holds only older ones)."""
    info = host.get_fact(PgBackRestInfo, stanza=STANZA)
    current = max((db["id"] for db in (info or {}).get("db", [])), default=None)
    if any(b["database"]["id"] == current for b in (info or {}).get("backup", [])):
        host.noop("the repository holds a backup of this database")
        return
    yield StringCommand(
        "cd / && runuser -u postgres -- pgbackrest --stanza=cognitive-memory --type=full "
        "--log-level-console=warn backup"
    )


@operation()
def dump_restore(settings: dict[str, Any]):
    """Fetch the newest dump from the backup host and restore it while the database is new.

    + settings: the resolved deploy settings
    """
    database, port = settings["cogmem_db_name"], settings["postgresql_port"]
    if host.get_fact(AppliedMigrations, database=database, port=port):
        host.noop(f"{database} has a schema already: no dump is restored over it")
        return
    user, prefix = settings["cogmem_user"], settings["cogmem_prefix"]
    fetch = f"{prefix}/bin/offsite_sync.sh"
    environ = [
        "ENVIRONMENT=production",
        f"COGMEM_CONFIG_DIR={prefix}/config",
        f"COGMEM_OFFSITE_DIR={offsite_dir(settings)}",
        f"COGMEM_BACKUP_ROOT={settings['cogmem_backup_dir']}",
        f"PATH={prefix}/venv/bin:/usr/bin:/bin",
    ]
    as_user = ["runuser", "-u", user, "--", "env", *environ]
    yield StringCommand(
        "cd / && dump=$("
        + shlex.join([*as_user, fetch, "--fetch-latest-dump"])
        + ") && "
        + shlex.join([*as_user, f"{prefix}/bin/restore_postgres.sh", "--yes"])
        + ' "$dump"'
    )
