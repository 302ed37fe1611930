"""cron: backup, L2 export, drift check, budget alerts, spot-check validation."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from provisioning.components import DEFAULTS, jinja, settings, template

CRON_FILE = "/etc/cron.d/cognitive-memory"


@deploy("Schedules", data_defaults=DEFAULTS)
def schedules() -> None:
    s = settings()

    # Install
    apt.packages(
        name="Install cron",
        packages=["cron"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )

    # Configure (cron notices a changed file in /etc/cron.d by itself)
    files.template(
        name=f"Install the schedules in {CRON_FILE}",
        src=template("cron.d.j2"),
        dest=CRON_FILE,
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )

    # Activate
    systemd.service(name="Ensure cron runs", service="cron.service", running=True, enabled=True)
