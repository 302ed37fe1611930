"""Where a locally installed server keeps its configuration, and its first creation.

COGMEM_CONFIG_DIR when set (the appliance sets it to <prefix>/config everywhere), else the
user's config folder (platformdirs: ~/.config/cognitive-memory on Linux). Never the working
directory: Claude Code starts a stdio server in the user's project folder, and that
folder's config/ belongs to the project.

Like config.py, this imports nothing else of ours, so every layer may use it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import platformdirs

APP = "cognitive-memory"
CONFIG_FILE = "config.yaml"
ENV_TEMPLATE = ".env.template"


def config_home() -> Path:
    if explicit := os.environ.get("COGMEM_CONFIG_DIR"):
        return Path(explicit).expanduser()
    return platformdirs.user_config_path(APP)


def packaged_defaults() -> Path:
    """The shipped config.yaml and .env.template: inside a wheel, or the checkout's config/."""
    package = Path(__file__).resolve().parent
    wheel = package / "defaults"
    return wheel if (wheel / CONFIG_FILE).is_file() else package.parent / "config"


def initialize(target: Path, environment: str = "development") -> list[Path]:
    """Create what is missing in `target`; keep what is there. Returns the files created.

    The folder is private (700), the env file mode 600 from the start, so no secret is
    ever readable by others, not even for a moment.
    """
    created: list[Path] = []
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = packaged_defaults()
    for name in (CONFIG_FILE, ENV_TEMPLATE):
        if not (target / name).exists() and (source / name).is_file():
            shutil.copyfile(source / name, target / name)
            created.append(target / name)
    env_file = target / f".env.{environment}"
    if not env_file.exists():
        descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(_env_file_text(source / ENV_TEMPLATE, environment))
        created.append(env_file)
    return created


def _env_file_text(template: Path, environment: str) -> str:
    """The template with every variable commented out: nothing is set until the user sets it."""
    lines = [
        f"# Secrets of the {environment} environment (mode 600, never in a repository).",
        "# Uncomment and fill in what you use; unset means: not used (the embedded database",
        "# when DATABASE_URL is unset).",
    ]
    if template.is_file():
        for line in template.read_text(encoding="utf-8").splitlines()[1:]:
            is_assignment = "=" in line and not line.lstrip().startswith("#")
            lines.append(f"# {line}" if is_assignment else line)
    return "\n".join(lines) + "\n"
