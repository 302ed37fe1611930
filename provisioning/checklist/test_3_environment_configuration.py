"""Environment configuration: env files, keys, log levels, database names."""

from __future__ import annotations

import pytest

from provisioning.checklist.support import ENVIRONMENTS, app_python, database_of, env_file_of
from provisioning.deployed import DEPLOYED_FILE
from provisioning.deployed import recorded as recorded_part
from provisioning.envfile import parse_env
from provisioning.settings import API_KEY_PLACEHOLDERS, DEFAULTS, is_placeholder, required_keys


def test_the_deploy_recorded_its_settings_without_secrets(host, recorded):
    assert recorded is not None, f"{DEPLOYED_FILE} is missing: re-run the deploy"
    assert set(recorded) == set(recorded_part(DEFAULTS)), sorted(recorded)
    file = host.file(DEPLOYED_FILE)
    assert (file.user, file.mode) == ("root", 0o644)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_env_file_is_mode_600_and_owned_by_the_service_user(host, expected, environment):
    env = host.file(env_file_of(expected, environment))
    assert env.exists
    assert env.mode == 0o600
    assert (env.user, env.group) == (expected["cogmem_user"], expected["cogmem_user"])


def test_the_config_folder_is_closed_to_others(host, expected):
    folder = host.file(f"{expected['cogmem_prefix']}/config")
    assert folder.is_directory
    assert folder.mode & 0o077 == 0
    assert folder.user == expected["cogmem_user"]


@pytest.mark.parametrize("name", sorted(API_KEY_PLACEHOLDERS))
def test_production_has_no_placeholder_key(host, expected, name):
    values = parse_env(host.file(env_file_of(expected, "production")).content_string)
    if not is_placeholder(values.get(name)):
        return
    if name in required_keys(expected):
        pytest.fail(f"{name} is a placeholder, and this configuration needs it")
    pytest.skip(f"{name} is a placeholder (not needed by this configuration)")


@pytest.mark.parametrize(
    ("environment", "level"), [("production", "INFO"), ("development", "DEBUG")]
)
def test_the_log_level_of_the_environment(host, expected, environment, level):
    code = (
        "from mcp_server.config import load_settings; s = load_settings(); "
        "print(s.logging.level, s.database.name)"
    )
    result = host.run(app_python(expected, environment, code))
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == [level, database_of(expected, environment)]
