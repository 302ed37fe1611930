"""What the deploy knows before it changes anything, and what it tells the user at the end.

`prepare()` runs first in provisioning/deploy.py, on the control machine and through facts
only: it checks the settings, the host's release, the deployer's secrets, and builds the wheel.
Any problem stops the deploy here, before an operation exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback
from pyinfra.facts.server import LinuxDistribution

from provisioning import settings as config
from provisioning.facts import HostSecrets
from provisioning.operations import quiet_fact
from provisioning.settings import SettingsError
from provisioning.summary import (  # re-exported: the deploy's summary lives there
    UNIT,
    checklist_command,
    checklist_data,
    next_steps,
    ssh_command,
)
from provisioning.wheel import build_wheel, wheel_contents


@dataclass
class Plan:
    settings: dict[str, Any]
    deployer_secrets: dict[str, str]
    wheel: Path
    version: str
    migrations: list[int]
    missing_keys: list[str] = field(default_factory=list)  # placeholders in production
    missing_required: list[str] = field(default_factory=list)  # the server needs these
    missing_scripts: list[str] = field(default_factory=list)

    @property
    def startable(self) -> bool:
        return not self.missing_required


# --- before anything changes -------------------------------------------------------------------


def prepare() -> Plan:
    """Check everything that can be checked before a change; raise a one-line error otherwise."""
    try:
        s = config.resolve(host.data.dict(), source=f"host data of {host.name}")
        config.check_distribution(s, host.get_fact(LinuxDistribution), f"host {host.name}")
        deployer = config.deployer_secrets(s)
        wheel = Path(s["cogmem_wheel"]) if s["cogmem_wheel"] else build_wheel()
        version, migrations = wheel_contents(wheel)
    except SettingsError as error:
        raise PyinfraError(str(error)) from None
    plan = Plan(s, deployer, wheel, version, migrations)
    _find_missing_keys(plan)
    _announce(plan)
    _register_summary()
    return plan


def _find_missing_keys(plan: Plan) -> None:
    on_host = quiet_fact(HostSecrets, config_dir=f"{plan.settings['cogmem_prefix']}/config")
    production = on_host["production"]
    given = {
        name
        for name in config.API_KEY_PLACEHOLDERS
        if name in plan.deployer_secrets or not config.is_placeholder(production.get(name))
    }
    plan.missing_keys = sorted(set(config.API_KEY_PLACEHOLDERS) - given)
    plan.missing_required = [k for k in config.required_keys(plan.settings) if k not in given]


def _announce(plan: Plan) -> None:
    s = plan.settings
    logger.info(
        f"{host.print_prefix}cognitive-memory {plan.version} ({plan.wheel.name}), "
        f"PostgreSQL {s['postgresql_version']} ({s['postgresql_package_source']}), "
        f"embeddings: {s['cogmem_embedding_provider']}"
    )
    if plan.missing_keys:
        logger.warning(
            f"{host.print_prefix}not given, written as placeholders: "
            f"{', '.join(plan.missing_keys)} (set them in the environment or "
            f"{config.secrets_file_path(s)})"
        )
    if plan.missing_required:
        logger.warning(
            f"{host.print_prefix}this configuration needs {', '.join(plan.missing_required)}: "
            f"{UNIT} is enabled but not started until they are set"
        )


# --- after the run -----------------------------------------------------------------------------

_plans: dict[str, Plan] = {}


def remember(plan: Plan) -> None:
    _plans[host.name] = plan


class _NextSteps(BaseStateCallback):
    @staticmethod
    def host_disconnect(state, host):
        plan = _plans.pop(host.name, None)
        results, planned = state.get_results_for_host(host), state.get_meta_for_host(host)
        if plan is None or host in state.failed_hosts or not state.is_executing:
            return
        if results.error_ops or results.ops < planned.ops:
            return  # a failed or unfinished run: pyinfra has said why
        print(next_steps(host.name, host.data.dict(), plan), flush=True)


def _register_summary() -> None:
    if not any(isinstance(h, _NextSteps) for h in state.callback_handlers):
        state.add_callback_handler(_NextSteps())


__all__ = [
    "UNIT",
    "Plan",
    "build_wheel",
    "checklist_command",
    "checklist_data",
    "next_steps",
    "prepare",
    "remember",
    "ssh_command",
    "wheel_contents",
]
