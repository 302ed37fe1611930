"""Off-host backups: the appliance's keys and the backup host's account, exchanged in one run.

Every host of the run calls `offsite()` at the same place of the deploy, so its two waiting
steps are shared: the appliances make their keys before the backup host authorizes them, and
the backup host has authorized them before the appliances pin its host keys and use them.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from provisioning import offsite as backup
from provisioning.components import DEFAULTS, jinja, settings, template


@deploy("Off-host backups", data_defaults=DEFAULTS)
def offsite() -> None:
    s = settings()
    where = None if backup.is_backup_host() else backup.target(s)
    if where:
        _keys(s)
    if backup.is_backup_host():
        _account(s)
    backup.keys_exchanged(name="Wait until every host of the run has its backup keys")
    if backup.is_backup_host():
        backup.authorize_appliances(
            name="Authorize the backup keys of the appliances, each into its own folder",
            account=s["cogmem_backup_account"],
            home=s["cogmem_backup_root"],
        )
    backup.keys_exchanged(name="Wait until the backup host knows every appliance's keys")
    if where:
        _pinned(s, where)


def _keys(s: dict) -> None:
    """SSH keys for the backup host, made on this host: the private keys never leave it."""
    user, folder = s["cogmem_user"], backup.offsite_dir(s)
    apt.packages(
        name="Install the SSH client and rsync",
        packages=["openssh-client", "rsync"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )
    for owner, path in ((user, folder), ("postgres", backup.POSTGRES_SSH)):
        files.directory(
            name=f"Ensure {path}, open only to {owner}",
            path=path,
            user=owner,
            group=owner,
            mode="700",
        )
    for owner, path in backup.key_files(s).items():
        backup.ssh_key(
            name=f"Make the backup key of {owner} (ed25519, never shown)",
            user=owner,
            path=path,
            comment=f"{owner}@{host.name}",
        )


def _account(s: dict) -> None:
    """The backup host: an account with keys only, its home holding one folder per appliance."""
    account, home = s["cogmem_backup_account"], s["cogmem_backup_root"]
    apt.packages(
        name="Install rsync and the SSH server (SFTP)",
        packages=["rsync", "openssh-server"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )
    server.group(name=f"Ensure the system group {account}", group=account, system=True)
    server.user(
        name=f"Ensure the backup account {account} (keys only, no password)",
        user=account,
        group=account,
        system=True,
        shell="/bin/sh",  # sshd starts the SFTP server and rsync through the login shell
        home=home,
        create_home=False,
        ensure_home=False,
        comment="Cognitive Memory backups",
    )
    for folder in (home, f"{home}/.ssh"):
        files.directory(
            name=f"Ensure {folder} (mode 700)", path=folder, user=account, group=account, mode="700"
        )
    files.file(
        name=f"Ensure {home}/.ssh/authorized_keys (mode 600)",
        path=f"{home}/.ssh/authorized_keys",
        user=account,
        group=account,
        mode="600",
    )


def _pinned(s: dict, where: backup.Target) -> None:
    """The backup host's own keys pinned, and where the copies go."""
    user, folder = s["cogmem_user"], backup.offsite_dir(s)
    pins = {user: f"{folder}/known_hosts", "postgres": f"{backup.POSTGRES_SSH}/known_hosts"}
    for owner, path in pins.items():
        backup.known_hosts(
            name=f"Pin the SSH host keys of {where.host} for {owner}",
            where=where,
            path=path,
            user=owner,
        )
    for name in ("ssh_config", "target"):
        files.template(
            name=f"Write {folder}/{name} (how and where the copies go)",
            src=template(f"offsite_{name}.j2"),
            dest=f"{folder}/{name}",
            user=user,
            group=user,
            mode="600",
            jinja_env_kwargs=jinja(),
            **backup.effective(s, where),
        )
