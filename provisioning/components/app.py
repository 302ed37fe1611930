"""The application: a system user without login, a virtualenv, the wheel and its dependencies."""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import apt, files, pip, server
from pyinfra.operations.util import any_changed

from provisioning.components import DEFAULTS, settings
from provisioning.operations import package_installed


@deploy("Application", data_defaults=DEFAULTS)
def app(wheel: Path, version: str):
    """Returns the operation that (re)installs the app, for the service's restart decision."""
    s = settings()
    prefix, user = s["cogmem_prefix"], s["cogmem_user"]
    venv = f"{prefix}/venv"

    # Install: system packages, trusted CAs, the user, the folders
    apt.packages(
        name="Install Python (venv), git and the CA store",
        packages=["python3", "python3-venv", "git", "ca-certificates"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )
    certificates = [
        files.put(
            name=f"Trust the CA certificate {Path(path).name}",
            src=str(Path(path).resolve()),
            dest=f"/usr/local/share/ca-certificates/cognitive-memory-{Path(path).stem}.crt",
            mode="644",
        )
        for path in s["cogmem_ca_certificates"]
    ]
    if certificates:
        server.shell(
            name="Update the CA store",
            commands=["update-ca-certificates"],
            _if=any_changed(*certificates),
        )
    server.group(name=f"Ensure the system group {user}", group=user, system=True)
    server.user(
        name=f"Ensure the system user {user}, without a login shell",
        user=user,
        group=user,
        system=True,
        shell="/usr/sbin/nologin",
        home=prefix,
        create_home=False,
        ensure_home=False,
        comment="Cognitive Memory",
    )
    for folder in (prefix, f"{prefix}/bin", f"{prefix}/dist", f"{prefix}/share"):
        files.directory(name=f"Ensure {folder}", path=folder, user="root", group="root", mode="755")

    # Configure: the virtualenv and what goes into it
    created = pip.venv(name=f"Create the virtualenv {venv}", path=venv, python="python3")
    uploaded = files.put(
        name=f"Upload {wheel.name}",
        src=str(wheel),
        dest=f"{prefix}/dist/{wheel.name}",
        mode="644",
    )
    pip_args = _pip_args(s, prefix)
    if s["cogmem_wheelhouse"]:
        files.sync(
            name="Upload the wheelhouse (dependencies without an index)",
            src=str(Path(s["cogmem_wheelhouse"]).resolve()),
            dest=f"{prefix}/wheelhouse",
            mode="644",
            dir_mode="755",
        )
    target = f"{prefix}/dist/{wheel.name}"
    pip_cmd = shlex.join([f"{venv}/bin/pip", "install", "--disable-pip-version-check", *pip_args])
    # Activate: same version but a new build (a re-deploy of a changed checkout) reinstalls;
    # a missing or different install (a failed earlier run) installs.
    installed = server.shell(
        name=f"Install cognitive-memory {version} and its dependencies into the virtualenv",
        commands=[
            f"{pip_cmd} --force-reinstall --no-deps {shlex.quote(target)}",
            f"{pip_cmd} {shlex.quote(target)}",
        ],
        _if=any_changed(created, uploaded),
    )
    repaired = package_installed(
        name=f"Ensure cognitive-memory {version} is installed in the virtualenv",
        venv=venv,
        package="cognitive-memory",
        version=version,
        install=f"{pip_cmd} {shlex.quote(target)}",
    )
    return [installed, repaired]


def _pip_args(s: dict, prefix: str) -> list[str]:
    if s["cogmem_wheelhouse"]:
        return ["--no-index", "--find-links", f"{prefix}/wheelhouse"]
    if s["cogmem_pip_index_url"]:
        return ["--index-url", s["cogmem_pip_index_url"]]
    return []
