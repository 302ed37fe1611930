"""Filters of the role that share the pyinfra deploy's code (provisioning/credentials.py,
provisioning/summary.py): which secrets to keep, which keys are missing, the closing lines."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from types import SimpleNamespace

from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[5]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from provisioning import backup_target, credentials, huge_pages  # noqa: E402
from provisioning import settings as config  # noqa: E402
from provisioning.envfile import parse_env  # noqa: E402
from provisioning.summary import next_steps  # noqa: E402


def check_distribution(settings: dict, facts: dict, name: str) -> bool:
    """True when the host's release offers the PostgreSQL version; else the deploy's message."""
    distribution = {
        "name": facts.get("distribution"),
        "major": facts.get("distribution_major_version"),
        "release_meta": {"VERSION_CODENAME": facts.get("distribution_release", "")},
    }
    try:
        config.check_distribution(settings, distribution, f"host {name}")
    except config.SettingsError as error:
        raise AnsibleFilterError(str(error)) from None
    return True


def choose_secrets(slurped: dict, generated: str, deployer: dict) -> dict:
    """Keep what the host's env files hold; fresh host-made values for what is missing.

    slurped: the registered loop of ansible.builtin.slurp over .env.production/.env.development
    (a missing file is a failed item); generated: lines of random values made on the host.
    """
    host_state: dict = {"production": {}, "development": {}, "generated": generated.split()}
    for item in slurped.get("results", []):
        if item.get("content"):
            text = base64.b64decode(item["content"]).decode()
            host_state[item["item"]] = parse_env(text)
    chosen = credentials.choose(host_state, deployer)
    return {"db_password": chosen.db_password, "tokens": chosen.tokens, "api_keys": chosen.keys}


def missing_keys(chosen: dict, settings: dict) -> dict:
    """API keys still placeholders in production, and those this configuration needs."""
    given = {k for k, v in chosen["api_keys"]["production"].items() if not config.is_placeholder(v)}
    missing = sorted(set(config.API_KEY_PLACEHOLDERS) - given)
    required = [k for k in config.required_keys(settings) if k not in given]
    return {"missing_keys": missing, "missing_required": required}


def closing_lines(settings: dict, name: str, connection: dict, missing: dict) -> list[str]:
    """The `claude mcp add` lines and the checklist command, as the pyinfra deploy prints them."""
    data = {
        "ssh_hostname": connection.get("host") or name,
        "ssh_port": connection.get("port"),
        "ssh_user": connection.get("user") or "root",
        "ssh_key": connection.get("key"),
    }
    plan = SimpleNamespace(settings=settings, missing_scripts=[], **missing)
    return next_steps(name, {k: v for k, v in data.items() if v}, plan).splitlines()


def authorized_line(public_key: str, user: str, appliance: str) -> str:
    """The backup host's `restrict` line for an appliance's public key, as pyinfra writes it."""
    return backup_target.authorized_line(public_key, user, appliance)


def known_hosts(host_keys: str, target: dict) -> str:
    """known_hosts text pinning the backup host's keys (`cat ssh_host_*_key.pub` output)."""
    where = backup_target.Target(
        **{k: target[k] for k in ("host", "address", "port", "account", "folder")}
    )
    return "\n".join(backup_target.known_hosts_lines(where, host_keys.splitlines())) + "\n"


class FilterModule:
    def filters(self):
        return {
            "cogmem_check_distribution": check_distribution,
            "cogmem_choose_secrets": choose_secrets,
            "cogmem_missing_keys": missing_keys,
            "cogmem_closing_lines": closing_lines,
            "cogmem_authorized_line": authorized_line,
            "cogmem_known_hosts": known_hosts,
            "cogmem_huge_page_count": huge_pages.reservation,
        }
