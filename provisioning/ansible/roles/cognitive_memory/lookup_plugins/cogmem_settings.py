"""The role's settings, checked by the pyinfra deploy's own rules (provisioning/settings.py).

    lookup('cogmem_settings')            the resolved settings (defaults.yml under the inventory)
    lookup('cogmem_settings', 'recorded') deployed.json's text
    lookup('cogmem_settings', 'secrets')  API keys from the secrets file (may be Vault) and env
    lookup('cogmem_settings', 'wheel')    {path, name, version, migrations} of the wheel
    lookup('cogmem_settings', 'target')   where the off-host backups go (cogmem_backup_host),
                                          read from the backup host's inventory variables
    lookup('cogmem_settings', 'huge_pages_fact')  the command reading the host's huge pages

It runs on the control machine, from this repository's checkout (the role's defaults and
templates are that checkout's files too), so one set of rules serves both tools.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: cogmem_settings
short_description: Cognitive Memory deploy settings, checked like the pyinfra deploy's
description:
  - Resolves provisioning/defaults.yml under the host's variables and checks every rule.
options:
  _terms:
    description: settings (default), recorded, secrets, wheel, target or huge_pages_fact
    required: false
"""

REPO = Path(__file__).resolve().parents[5]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from provisioning import backup_target, huge_pages  # noqa: E402
from provisioning import settings as config  # noqa: E402
from provisioning.deployed import to_json  # noqa: E402
from provisioning.wheel import build_wheel, wheel_contents  # noqa: E402


def _typed(given: dict) -> None:
    """-e key=value gives strings; a string where a boolean or list belongs would render wrong."""
    for key, value in given.items():
        default = config.DEFAULTS.get(key)
        if isinstance(default, bool | list) and isinstance(value, str):
            kind = "true or false" if isinstance(default, bool) else "a list"
            raise config.SettingsError(
                f"{key}={value!r} must be {kind}, not a string: give it in YAML or JSON, "
                f"e.g. -e '{{\"{key}\": {str(default).lower() if kind != 'a list' else '[]'}}}'"
            )


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        what = terms[0] if terms else "settings"
        given = self._settings_of(variables or {})
        try:
            _typed(given)
            settings = config.resolve(given, source="Ansible variables")
            if what == "settings":
                return [settings]
            if what == "recorded":
                return [to_json(settings)]
            if what == "secrets":
                return [config.deployer_secrets(settings, load=self._load)]
            if what == "wheel":
                wheel = Path(settings["cogmem_wheel"]) if settings["cogmem_wheel"] else None
                wheel = wheel or build_wheel()
                version, migrations = wheel_contents(wheel)
                path, name = str(wheel.resolve()), wheel.name
                return [{"path": path, "name": name, "version": version, "migrations": migrations}]
            if what == "target":
                return [self._target(settings, variables)]
            if what == "huge_pages_fact":
                return [huge_pages.FACT]
        except config.SettingsError as error:
            raise AnsibleLookupError(str(error)) from None
        raise AnsibleLookupError(f"cogmem_settings: unknown term {what!r}")

    def _settings_of(self, variables) -> dict:
        return {
            key: self._templar.template(variables[key])
            for key in variables
            if isinstance(key, str) and key.startswith(config.PREFIXES)
        }

    def _target(self, settings: dict, variables: dict) -> dict | None:
        """The backup host as the pyinfra deploy finds it (provisioning/backup_target.py): a host
        of the group backup_hosts, its account and root from its own variables."""
        wanted = settings["cogmem_backup_host"]
        if not wanted:
            return None
        if wanted not in variables["groups"].get(backup_target.GROUP, []):
            example = f"`{backup_target.GROUP}: {{hosts: {{{wanted}: {{}}}}}}` in the inventory"
            raise backup_target.not_in_group(wanted, example)
        theirs = variables["hostvars"][wanted]
        backup = config.resolve(self._settings_of(theirs), source=f"host variables of {wanted}")
        address = self._templar.template(theirs.get("ansible_host") or wanted)
        port = int(self._templar.template(theirs.get("ansible_port") or 22))
        name = variables["inventory_hostname"]
        where = backup_target.locate(settings, name, backup, address, port)
        root, folder_name = where.folder.rsplit("/", 1)
        return {
            "host": where.host,
            "address": where.address,
            "port": where.port,
            "account": where.account,
            "folder": where.folder,
            "known_host": where.known_host,
            "root": root,  # the backup account's home
            "name": folder_name,  # this appliance's folder there, and its stanza's repository
            "keys": backup_target.key_files(settings),
            "offsite_dir": backup_target.offsite_dir(settings),
            "postgres_ssh": backup_target.POSTGRES_SSH,
            "stanza": backup_target.STANZA,
        }

    def _load(self, path: Path):
        """YAML, decrypted first when it is an Ansible Vault file."""
        return self._loader.load_from_file(str(path))
