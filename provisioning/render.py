"""Renders templates/ exactly as the deploy does: plain Jinja2, Ansible's whitespace rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from provisioning.settings import TEMPLATES

# Ansible's template module trims the newline after a block tag and keeps the final newline;
# pyinfra's files.template gets the same options, so both tools write the same bytes.
JINJA_OPTIONS: dict[str, Any] = {"trim_blocks": True, "keep_trailing_newline": True}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    **JINJA_OPTIONS,
)


def render(template: str, settings: Mapping[str, Any], **extra: Any) -> str:
    return _environment.get_template(template).render(**settings, **extra)


def env_file(
    settings: Mapping[str, Any],
    environment: str,
    *,
    db_password: str,
    token: str,
    secrets: Mapping[str, str],
) -> str:
    """One of the two env files; the only template that carries secrets."""
    return render(
        "env.j2",
        settings,
        cogmem_environment=environment,
        cogmem_db_password=db_password,
        cogmem_mcp_http_token=token,
        cogmem_secrets=dict(secrets),
    )
