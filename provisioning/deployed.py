"""What a deploy records on the host: the effective settings, so the checklist can read them.

Both deploy tools write the same file from the same template (templates/deployed.json.j2):
every setting the checklist looks at, no secret and nothing about the control machine (where the
wheel or the secrets file lay). The checklist reads it back; its --data options override it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

DEPLOYED_FILE = "/etc/cognitive-memory/deployed.json"

# Settings about how the app got there (paths on the control machine), not what the host is.
NOT_RECORDED = frozenset(
    {
        "cogmem_wheel",
        "cogmem_wheelhouse",
        "cogmem_pip_index_url",
        "cogmem_ca_certificates",
        "cogmem_secrets_file",
        "cogmem_restore_dump",
    }
)


def recorded(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the resolved settings that deployed.json holds."""
    return {k: v for k, v in sorted(settings.items()) if k not in NOT_RECORDED}


def to_json(settings: Mapping[str, Any]) -> str:
    """deployed.json's text, the same bytes from either tool (the template only places it)."""
    return json.dumps(recorded(settings), indent=2, sort_keys=True)


def parse(text: str, source: str = DEPLOYED_FILE) -> dict[str, Any]:
    """deployed.json's settings; ValueError naming the file when it is not what a deploy wrote."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{source} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source} must hold an object of setting: value")
    return data
