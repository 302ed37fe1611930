"""Dependencies: system packages and the app's virtualenv."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("package", ["postgresql", "pgvector", "python3-venv", "cron", "git"])
def test_the_package_is_installed(host, expected, package):
    version = expected["postgresql_version"]
    name = {
        "postgresql": f"postgresql-{version}",
        "pgvector": f"postgresql-{version}-pgvector",
    }.get(package, package)
    assert host.package(name).is_installed, f"{name} is not installed"


def test_the_app_runs_from_its_virtualenv(host, expected):
    version = host.run(f"{expected['cogmem_prefix']}/venv/bin/cognitive-memory --help")
    assert version.rc == 0, version.stderr


def test_the_virtualenv_has_no_broken_requirements(host, expected):
    check = host.run(f"{expected['cogmem_prefix']}/venv/bin/pip check")
    assert check.rc == 0, check.stdout + check.stderr


def test_the_service_user_has_no_login_shell(host, expected):
    user = host.user(expected["cogmem_user"])
    assert user.exists
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
