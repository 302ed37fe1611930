"""config.yaml and the two env files, the env files mode 600 and owned by the service user."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from provisioning.components import DEFAULTS, jinja, settings, template
from provisioning.operations import env_file


@deploy("Configuration", data_defaults=DEFAULTS)
def config(deployer_secrets: dict[str, str]):
    """Returns the operations whose change means the server must restart."""
    s = settings()
    user, folder = s["cogmem_user"], f"{s['cogmem_prefix']}/config"

    files.directory(
        name=f"Ensure {folder}, open only to {user}",
        path=folder,
        user=user,
        group=user,
        mode="700",
    )
    rendered = files.template(
        name=f"Render {folder}/config.yaml",
        src=template("config.yaml.j2"),
        dest=f"{folder}/config.yaml",
        user=user,
        group=user,
        mode="600",
        jinja_env_kwargs=jinja(),
        **s,
    )
    # The password and tokens are made on the host the first time and kept afterwards.
    secrets = [
        env_file(
            name=f"Render {folder}/.env.{environment} (mode 600, secrets never shown)",
            environment=environment,
            settings=s,
            deployer=deployer_secrets,
        )
        for environment in ("production", "development")
    ]
    return [rendered, *secrets]
