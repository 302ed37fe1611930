"""The hardened systemd unit: enabled, running, restarted only when something it uses changed."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from provisioning.components import DEFAULTS, jinja, settings, template

UNIT = "cognitive-memory-mcp.service"


@deploy("Service", data_defaults=DEFAULTS)
def service(inputs: list[OperationMeta], startable: bool = True) -> None:
    """`inputs`: operations whose change means a restart (install, config, env files)."""
    s = settings()

    # Install
    unit = files.template(
        name=f"Install the systemd unit {UNIT}",
        src=template(f"{UNIT}.j2"),
        dest=f"/etc/systemd/system/{UNIT}",
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )

    # Configure
    systemd.daemon_reload(name="Reload systemd after a unit change", _if=unit.did_change)

    # Activate
    if not startable:
        systemd.service(
            name=f"Enable {UNIT} (it starts once the missing API keys are set)",
            service=UNIT,
            running=None,
            enabled=True,
        )
        return
    systemd.service(
        name=f"Restart {UNIT} after a change of its unit, install or configuration",
        service=UNIT,
        running=True,
        restarted=True,
        _if=any_changed(unit, *inputs),
    )
    systemd.service(
        name=f"Ensure {UNIT} is enabled and running",
        service=UNIT,
        running=True,
        enabled=True,
    )
