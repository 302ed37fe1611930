"""The deploy's shape: named operations, one defaults file, templates that only use it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

from provisioning.settings import DEFAULTS, DEFAULTS_FILE, PROVISIONING, REPO, TEMPLATES

COMPONENTS = sorted((PROVISIONING / "components").glob("*.py"))
# What env.j2 gets beyond the defaults: the environment and the secrets.
SECRET_VARIABLES = {
    "cogmem_environment",
    "cogmem_db_password",
    "cogmem_mcp_http_token",
    "cogmem_secrets",
}
# Computed by the deploy (provisioning/deployed.py, provisioning/huge_pages.py), not settings.
DERIVED_VARIABLES = {"cogmem_deployed", "huge_page_count"}
OPERATION_MODULES = {"apt", "files", "pip", "postgres", "server", "systemd"}
OWN_OPERATIONS = {
    "env_file",
    "extension",
    "migrations",
    "package_installed",
    "restore_dump",
    "role_password",
    "same_schema",
}


def operation_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id in OPERATION_MODULES
        ) or (isinstance(function, ast.Name) and function.id in OWN_OPERATIONS):
            yield node


@pytest.mark.parametrize("path", COMPONENTS, ids=[p.stem for p in COMPONENTS])
def test_every_operation_says_what_it_ensures(path):
    calls = list(operation_calls(path))
    unnamed = [ast.unparse(c.func) for c in calls if "name" not in {k.arg for k in c.keywords}]
    assert not unnamed, f"{path.name}: operations without name=: {unnamed}"


def test_the_deploy_file_is_a_short_ordered_list():
    source = (PROVISIONING / "deploy.py").read_text()
    code = [
        line for line in source.splitlines() if line.strip() and not line.startswith(("#", '"'))
    ]
    assert len(code) <= 32
    order = re.findall(r"^\s*(?:\S+ = )?(\w+)\(", source, re.M)
    assert order == [
        "postgres", "app", "offsite", "config", "backups", "pitr", "databases",
        "pitr_base", "service", "schedules", "record",
    ]  # fmt: skip


def _variables(template: str) -> set[str]:
    environment = jinja2.Environment()
    return jinja2.meta.find_undeclared_variables(
        environment.parse((TEMPLATES / template).read_text())
    )


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_templates_use_only_the_defaults_and_the_secrets(template):
    unknown = _variables(template) - set(DEFAULTS) - SECRET_VARIABLES - DERIVED_VARIABLES
    assert not unknown, f"{template} uses {unknown}, which provisioning/defaults.yml lacks"


def test_every_setting_is_used_and_commented():
    used = set().union(*(_variables(p.name) for p in TEMPLATES.glob("*.j2")))
    code = "\n".join(p.read_text() for p in PROVISIONING.rglob("*.py"))
    lines = DEFAULTS_FILE.read_text().splitlines()
    for key in DEFAULTS:
        assert key in used or f'"{key}"' in code or f"'{key}'" in code, f"{key} is never used"
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        assert lines[index - 1].startswith("#"), f"{key} has no comment above it"


def test_the_checklist_stays_out_of_the_normal_test_run():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'testpaths\s*=\s*\["tests"\]', pyproject)
    assert (PROVISIONING / "checklist" / "conftest.py").is_file()
