"""Where an appliance's off-host backups go: names and paths both deploy tools share.

No pyinfra here: the Ansible role's lookup (`cogmem_settings`, term `target`) imports this
module as the pyinfra deploy (provisioning/offsite.py) does, so both find the same folder,
stanza, keys and settings for the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provisioning.settings import SettingsError

GROUP = "backup_hosts"  # the inventory group of backup hosts, in both tools
KEY = "cogmem-backup"  # file name of the key pairs on the appliance
STANZA = "cognitive-memory"  # one stanza per repository; each appliance has its own repository
POSTGRES_SSH = "/var/lib/postgresql/.ssh"


@dataclass(frozen=True)
class Target:
    """Where this appliance's backups go: address and port as the appliance sees them."""

    host: str  # inventory name
    address: str
    port: int
    account: str
    folder: str  # this appliance's folder on the backup host

    @property
    def known_host(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


def backup_name(s: dict[str, Any], name: str) -> str:
    return s["cogmem_backup_name"] or re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")


def not_in_group(wanted: str, example: str) -> SettingsError:
    return SettingsError(
        f"cogmem_backup_host={wanted!r} is not in the inventory group {GROUP!r}: add it, "
        f"e.g. {example}"
    )


def locate(s: dict[str, Any], name: str, backup: dict[str, Any], address: str, port: int) -> Target:
    """The target of appliance `name` (settings `s`) on the backup host with settings `backup`,
    which the inventory reaches at `address`:`port` (used unless `s` names its own)."""
    return Target(
        host=s["cogmem_backup_host"],
        address=s["cogmem_backup_host_address"] or address,
        port=s["cogmem_backup_host_port"] or port,
        account=backup["cogmem_backup_account"],
        folder=f"{backup['cogmem_backup_root'].rstrip('/')}/{backup_name(s, name)}",
    )


def effective(s: dict[str, Any], where: Target) -> dict[str, Any]:
    """The settings with the backup host's values filled in, for the templates."""
    return {
        **s,
        "cogmem_backup_host_address": where.address,
        "cogmem_backup_host_port": where.port,
        "cogmem_backup_account": where.account,
        "cogmem_backup_root": where.folder.rsplit("/", 1)[0],
        "cogmem_backup_name": where.folder.rsplit("/", 1)[1],
    }


def offsite_dir(s: dict[str, Any]) -> str:
    """The service user's folder for the backup host: key, ssh config, known hosts, target."""
    return f"{s['cogmem_prefix']}/offsite"


def key_files(s: dict[str, Any]) -> dict[str, str]:
    """{operating-system user: private key path} of the appliance's keys for the backup host."""
    return {"postgres": f"{POSTGRES_SSH}/{KEY}", s["cogmem_user"]: f"{offsite_dir(s)}/{KEY}"}


def authorized_line(public_key: str, user: str, appliance: str) -> str:
    """The backup host's authorized_keys line for a key: `restrict`, so no shell session and no
    forwarding; SFTP and rsync still work."""
    return f"restrict {' '.join(public_key.split()[:2])} {user}@{appliance}"


def known_hosts_lines(where: Target, host_keys: list[str]) -> list[str]:
    """known_hosts lines pinning the backup host's own keys (`type base64` lines, any order)."""
    keys = sorted(" ".join(line.split()[:2]) for line in host_keys if line.strip())
    return [f"{where.known_host} {key}" for key in keys]
