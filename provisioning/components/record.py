"""What was deployed, written last: the checklist reads its expectations from this file."""

from __future__ import annotations

from pathlib import PurePosixPath

from pyinfra.api import deploy
from pyinfra.operations import files

from provisioning.components import DEFAULTS, jinja, settings, template
from provisioning.deployed import DEPLOYED_FILE, to_json


@deploy("Record", data_defaults=DEFAULTS)
def record() -> None:
    folder = str(PurePosixPath(DEPLOYED_FILE).parent)
    files.directory(name=f"Ensure {folder}", path=folder, user="root", group="root", mode="755")
    files.template(
        name=f"Record the deployed settings in {DEPLOYED_FILE} (no secrets)",
        src=template("deployed.json.j2"),
        dest=DEPLOYED_FILE,
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        cogmem_deployed=to_json(settings()),
    )
