"""The app's wheel on the control machine: built once per run from this checkout, or given.

Both deploy tools install the same wheel; its name gives the version and its files the
migrations the release ships.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from provisioning.settings import REPO, SettingsError

_MIGRATION = re.compile(r"^mcp_server/migrations/(\d{3})_[a-z0-9_]+\.sql$")

_built: dict[str, Path] = {}


def build_wheel() -> Path:
    """Build the app's wheel from this checkout once per run (py3-none-any, reproducible)."""
    if "wheel" not in _built:
        out = Path(tempfile.mkdtemp(prefix="cogmem-wheel-"))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(out),
                str(REPO),
            ],
            capture_output=True,
            text=True,
        )
        wheels = list(out.glob("cognitive_memory-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise SettingsError(f"building the wheel failed:\n{result.stderr[-2000:]}")
        _built["wheel"] = wheels[0]
    return _built["wheel"]


def wheel_contents(wheel: Path) -> tuple[str, list[int]]:
    """(version, migration versions) of a wheel."""
    match = re.match(r"^cognitive_memory-([^-]+)-", wheel.name)
    if not match:
        raise SettingsError(f"{wheel} is not a cognitive-memory wheel")
    with zipfile.ZipFile(wheel) as archive:
        versions = sorted(
            int(m.group(1)) for name in archive.namelist() if (m := _MIGRATION.match(name))
        )
    if not versions:
        raise SettingsError(f"{wheel} carries no migrations (mcp_server/migrations/*.sql)")
    return match.group(1), versions
