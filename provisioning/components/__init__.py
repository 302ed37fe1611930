"""The appliance, one packaged pyinfra deploy per concern; provisioning/deploy.py orders them.

Each deploy installs, then configures, then activates its concern, reads its settings from
host data over provisioning/defaults.yml (its data_defaults), and names every operation.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host

from provisioning.render import JINJA_OPTIONS
from provisioning.settings import DEFAULTS, TEMPLATES, resolve


def settings() -> dict[str, Any]:
    """The current host's settings: its data over the defaults, checked."""
    return resolve(host.data.dict(), source=f"host data of {host.name}")


def template(name: str) -> str:
    return str(TEMPLATES / name)


def jinja() -> dict[str, Any]:
    """Jinja options for files.template (which sets keep_trailing_newline itself)."""
    return {k: v for k, v in JINJA_OPTIONS.items() if k != "keep_trailing_newline"}


__all__ = ["DEFAULTS", "jinja", "settings", "template"]
