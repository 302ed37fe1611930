"""The Ansible role's own shape, and its preflight: bad settings stop it before any change.

The preflight cases run the real playbook against this machine (connection local) and must
fail in the settings checks, before a task that could change anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioning.ansible_specs import SPECS_FILE, render
from provisioning.settings import DEFAULTS, DEFAULTS_FILE, TEMPLATES

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "provisioning" / "ansible"
ROLE = ANSIBLE / "roles" / "cognitive_memory"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TYPES = {bool: "bool", int: "int", str: "str", list: "list"}


def test_the_role_reads_the_one_defaults_file_and_the_shared_templates():
    assert (ROLE / "defaults" / "main.yml").resolve() == DEFAULTS_FILE
    assert (ROLE / "templates").resolve() == TEMPLATES
    assert (ROLE / "files").resolve() == REPO / "scripts"


def test_argument_specs_are_generated_from_the_current_defaults():
    assert SPECS_FILE.read_text() == render(), "run: python -m provisioning.ansible_specs"


def test_argument_specs_name_every_setting_with_its_type():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert list(options) == list(DEFAULTS)
    for key, value in DEFAULTS.items():
        assert options[key]["type"] == TYPES[type(value)], key
        assert "default" not in options[key], f"{key}: the default lives in defaults.yml only"
        assert options[key]["description"].strip(), key


def test_every_template_the_role_renders_exists():
    used = set()
    for tasks in (ROLE / "tasks").glob("*.yml"):
        for task in yaml.safe_load(tasks.read_text()) or []:
            for step in [task, *task.get("block", [])]:
                module = step.get("ansible.builtin.template")
                if module:
                    used.add(module["src"])
    assert used == {p.name for p in TEMPLATES.glob("*.j2")}


def _playbook(tmp_path: Path, *extra: str, **host_vars) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.yml"
    hosts = {"preflight-host": {"ansible_connection": "local", **host_vars}}
    inventory.write_text(yaml.safe_dump({"cognitive_memory": {"hosts": hosts}}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    env.pop("ANSIBLE_CONFIG", None)
    # --check: should the preflight ever let a bad setting through, this machine stays as it is
    command = [str(PLAYBOOK), "-i", str(inventory), str(ANSIBLE / "site.yml"), "--check", *extra]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="the ansible extra is not installed")
@pytest.mark.parametrize(
    ("extra", "host_vars", "message"),
    [
        ([], {"cogmem_watchdog_secs": 5}, "unknown setting(s): cogmem_watchdog_secs"),
        ([], {"cogmem_db_name": "memory'; DROP"}, "is not a safe PostgreSQL name"),
        (["-e", "cogmem_evaluation_enabled=false"], {}, "must be true or false, not a string"),
        ([], {"postgresql_port": "not-a-port"}, "postgresql_port"),
        ([], {"cogmem_backup_host": "vault"}, "is not in the inventory group 'backup_hosts'"),
        ([], {"cogmem_restore_from": "latest"}, "needs cogmem_backup_host (where from?)"),
    ],
    ids=[
        "unknown-setting",
        "quote-in-database-name",
        "string-boolean",
        "port-not-a-number",
        "backup-host-not-in-group",
        "restore-without-backup-host",
    ],
)
def test_bad_settings_stop_the_playbook_before_any_change(tmp_path, extra, host_vars, message):
    result = _playbook(tmp_path, *extra, **host_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    assert "changed=0" in output
    # nothing after the settings checks ran
    assert "Install the system packages" not in output, output[-3000:]


# Run in a child process: importing ansible replaces sys.intern for the whole interpreter,
# which breaks torch (the local embedder) in later tests of the same run.
LOOKUP_SECRETS = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

request = json.load(sys.stdin)
loader = DataLoader()
loader.set_vault_secrets([("default", VaultSecret(request["password"].encode()))])
lookup_loader.add_directory(request["plugins"])
lookup = lookup_loader.get("cogmem_settings", loader=loader, templar=Templar(loader=loader))
try:
    [found] = lookup.run(["secrets"], variables=request["variables"])
    print(json.dumps({"found": found}))
except Exception as error:
    print(json.dumps({"error": str(error)}))
"""


def lookup_secrets(variables: dict, password: str) -> dict:
    request = {"password": password, "plugins": str(ROLE / "lookup_plugins"),
               "variables": variables}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", LOOKUP_SECRETS], input=json.dumps(request),
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="the ansible extra is not installed")
def test_the_secrets_file_may_be_an_ansible_vault(tmp_path, monkeypatch):
    """The role reads the deployer's keys like the pyinfra deploy; a Vault file is decrypted."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("OPENAI_API_KEY: sk-from-the-vault\n")
    secrets_file.chmod(0o600)
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    vault = Path(sys.executable).parent / "ansible-vault"
    subprocess.run(
        [str(vault), "encrypt", "--vault-password-file", str(password), str(secrets_file)],
        check=True,
        capture_output=True,
    )
    assert secrets_file.read_text().startswith("$ANSIBLE_VAULT")

    variables = {**DEFAULTS, "cogmem_secrets_file": str(secrets_file)}
    assert lookup_secrets(variables, "correct horse battery staple") == {"found": {
        "OPENAI_API_KEY": "sk-from-the-vault",
        "ANTHROPIC_API_KEY": "sk-ant-from-the-environment",  # the environment wins, as in pyinfra
    }}  # fmt: skip
    secrets_file.chmod(0o644)
    assert "chmod 600" in lookup_secrets(variables, "correct horse battery staple")["error"]
