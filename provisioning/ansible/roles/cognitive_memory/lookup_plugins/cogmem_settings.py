"""The role's settings, checked by the pyinfra deploy's own rules (provisioning/settings.py).

    lookup('cogmem_settings')            the resolved settings (defaults.yml under the inventory)
    lookup('cogmem_settings', 'recorded') deployed.json's text
    lookup('cogmem_settings', 'secrets')  API keys from the secrets file (may be Vault) and env
    lookup('cogmem_settings', 'wheel')    {path, name, version, migrations} of the wheel

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
    description: settings (default), recorded, secrets or wheel
    required: false
"""

REPO = Path(__file__).resolve().parents[5]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

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
        given = {
            key: self._templar.template(value)
            for key, value in (variables or {}).items()
            if isinstance(key, str) and key.startswith(config.PREFIXES)
        }
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
        except config.SettingsError as error:
            raise AnsibleLookupError(str(error)) from None
        raise AnsibleLookupError(f"cogmem_settings: unknown term {what!r}")

    def _load(self, path: Path):
        """YAML, decrypted first when it is an Ansible Vault file."""
        return self._loader.load_from_file(str(path))
