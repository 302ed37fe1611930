"""Off-host backups: the appliance's keys and the backup host's account, exchanged in one run.

`keys()` runs on an appliance, `backup_host()` on every host (it does its work on the backup
host and is the step where all hosts wait for each other), `pinned()` on an appliance again.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from provisioning import offsite
from provisioning.components import DEFAULTS, jinja, settings, template


@deploy("Off-host backup keys", data_defaults=DEFAULTS)
def keys() -> None:
    """SSH keys for the backup host, made on this host (the private keys never leave it)."""
    s = settings()
    if not offsite.target(s):
        return
    user, folder = s["cogmem_user"], offsite.offsite_dir(s)
    apt.packages(
        name="Install the SSH client and rsync",
        packages=["openssh-client", "rsync"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )
    files.directory(
        name=f"Ensure {folder}, open only to {user}", path=folder, user=user, group=user, mode="700"
    )
    files.directory(
        name=f"Ensure {offsite.POSTGRES_SSH}, open only to postgres",
        path=offsite.POSTGRES_SSH,
        user="postgres",
        group="postgres",
        mode="700",
    )
    for owner, path in offsite.key_files(s).items():
        offsite.ssh_key(
            name=f"Make the backup key of {owner} (ed25519, never shown)",
            user=owner,
            path=path,
            comment=f"{owner}@{host.name}",
        )


@deploy("Backup host", data_defaults=DEFAULTS)
def backup_host() -> None:
    """On a host of the group backup_hosts: the account and the appliances' keys and folders."""
    s = settings()
    if offsite.is_backup_host():
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
            shell="/bin/sh",  # sshd runs the SFTP server and rsync through the login shell
            home=home,
            create_home=False,
            ensure_home=False,
            comment="Cognitive Memory backups",
        )
        for folder in (home, f"{home}/.ssh"):
            files.directory(
                name=f"Ensure {folder} (mode 700)",
                path=folder,
                user=account,
                group=account,
                mode="700",
            )
        files.file(
            name=f"Ensure {home}/.ssh/authorized_keys (mode 600)",
            path=f"{home}/.ssh/authorized_keys",
            user=account,
            group=account,
            mode="600",
        )
    # every host waits here: the appliances' keys exist before they are authorized below,
    # and are authorized before the appliances use them
    offsite.keys_exchanged(name="Wait until every host of the run has its backup keys")
    if offsite.is_backup_host():
        offsite.authorize_appliances(
            name="Authorize the backup keys of the appliances, each into its own folder",
            account=account,
            home=home,
        )
    offsite.keys_exchanged(name="Wait until the backup host knows every appliance's keys")


@deploy("Off-host backup target", data_defaults=DEFAULTS)
def pinned() -> None:
    """The backup host's keys pinned, its address in an ssh config, the folder there."""
    s = settings()
    where = offsite.target(s)
    if not where:
        return
    user, folder = s["cogmem_user"], offsite.offsite_dir(s)
    pins = {user: f"{folder}/known_hosts", "postgres": f"{offsite.POSTGRES_SSH}/known_hosts"}
    for owner, path in pins.items():
        offsite.known_hosts(
            name=f"Pin the SSH host keys of {where.host} for {owner}",
            where=where,
            path=path,
            user=owner,
        )
    files.template(
        name=f"Write {folder}/ssh_config and {folder}/target (where the copies go)",
        src=template("offsite_ssh_config.j2"),
        dest=f"{folder}/ssh_config",
        user=user,
        group=user,
        mode="600",
        jinja_env_kwargs=jinja(),
        **s,
        target=where,
        alias=offsite.ALIAS,
        key=offsite.key_files(s)[user],
        known_hosts=f"{folder}/known_hosts",
    )
    files.put(
        name=f"Name the folder on {where.host} in {folder}/target",
        src=_text(f"COGMEM_OFFSITE_HOST={offsite.ALIAS}\nCOGMEM_OFFSITE_FOLDER={where.folder}\n"),
        dest=f"{folder}/target",
        user=user,
        group=user,
        mode="600",
    )


def _text(content: str):
    from io import StringIO

    return StringIO(content)
