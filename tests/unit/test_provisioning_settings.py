"""Deploy settings are checked before anything touches a host; messages name key and fix."""

from __future__ import annotations

import pytest

from provisioning import settings as s


def test_the_defaults_pass_their_own_checks():
    resolved = s.resolve({})
    assert resolved["postgresql_version"] == 17
    assert resolved["cogmem_db_name"] == "cognitive_memory"


def test_inventory_data_overrides_a_default_and_other_keys_are_ignored():
    resolved = s.resolve({"cogmem_http_port": 9000, "ssh_port": 2222, "_sudo": True})
    assert resolved["cogmem_http_port"] == 9000
    assert "ssh_port" not in resolved


def test_command_line_strings_are_read_as_the_defaults_type():
    resolved = s.resolve(
        {"cogmem_watchdog_sec": "10", "cogmem_allow_hashing_in_production": "true"}
    )
    assert resolved["cogmem_watchdog_sec"] == 10
    assert resolved["cogmem_allow_hashing_in_production"] is True


def test_an_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(s.SettingsError, match=r"cogmem_watchdog_secs \(did you mean cogmem_watc"):
        s.resolve({"cogmem_watchdog_secs": 10}, source="inventory/x.py")


@pytest.mark.parametrize("version", [14, 99, "16beta"])
def test_an_unsupported_postgresql_version_is_refused(version):
    with pytest.raises(s.SettingsError, match="postgresql_version"):
        s.resolve({"postgresql_version": version})


@pytest.mark.parametrize("key", ["cogmem_db_name", "cogmem_dev_db_name", "cogmem_db_user"])
def test_a_quote_in_a_database_name_is_refused(key):
    with pytest.raises(s.SettingsError, match=f"{key}=.*not a safe PostgreSQL name"):
        s.resolve({key: "memory'; DROP DATABASE x; --"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cogmem_dev_db_name", "cognitive_memory", "separate databases"),
        ("cogmem_prefix", "/opt/my memory", "absolute path"),
        ("cogmem_http_port", 70000, "TCP port"),
        ("cogmem_cron_backup", "every night", "cron schedule"),
        ("cogmem_embedding_provider", "hashing", "allow_hashing_in_production"),
        ("cogmem_embedding_provider", "local", "not installed by the deploy.*Ollama"),
        ("cogmem_watchdog_sec", 1, "at least 4"),
        ("cogmem_min_free_disk_gb", 0, "at least 1"),
        ("postgresql_package_source", "ppa", "debian, pgdg"),
        ("cogmem_wheel", "/nonexistent.whl", "not a file"),
        ("postgresql_shared_buffers", "1GB'\nlisten_addresses = '*", "a size such as"),
        ("postgresql_shared_buffers", "lots", "a size such as"),
    ],
)
def test_bad_values_are_refused_with_the_key(key, value, message):
    with pytest.raises(s.SettingsError, match=message):
        s.resolve({key: value})


def test_debian_13_ships_postgresql_17():
    trixie = {"name": "Debian", "major": 13, "release_meta": {"VERSION_CODENAME": "trixie"}}
    s.check_distribution(s.resolve({}), trixie, "host")
    with pytest.raises(s.SettingsError, match="ships PostgreSQL 17"):
        s.check_distribution(s.resolve({"postgresql_version": 16}), trixie, "host")


def test_debian_12_needs_the_postgresql_apt_repository():
    bookworm = {"name": "Debian", "major": 12, "release_meta": {"VERSION_CODENAME": "bookworm"}}
    with pytest.raises(s.SettingsError, match="no pgvector package"):
        s.check_distribution(s.resolve({}), bookworm, "host")
    s.check_distribution(s.resolve({"postgresql_package_source": "pgdg"}), bookworm, "host")


def test_deployer_secrets_come_from_the_file_and_the_environment(tmp_path):
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("OPENAI_API_KEY: from-file\nSMTP_HOST: mail.example.org\n")
    secrets_file.chmod(0o600)
    resolved = s.resolve({"cogmem_secrets_file": str(secrets_file)})
    found = s.deployer_secrets(resolved, environ={"OPENAI_API_KEY": "from-env"})
    assert found == {"OPENAI_API_KEY": "from-env", "SMTP_HOST": "mail.example.org"}


def test_a_readable_secrets_file_is_refused(tmp_path):
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("OPENAI_API_KEY: x\n")
    secrets_file.chmod(0o644)
    resolved = s.resolve({"cogmem_secrets_file": str(secrets_file)})
    with pytest.raises(s.SettingsError, match="chmod 600"):
        s.deployer_secrets(resolved, environ={})


def test_required_keys_follow_the_configured_providers():
    assert s.required_keys(s.resolve({})) == ["OPENAI_API_KEY"]
    demo = {"cogmem_embedding_provider": "hashing", "cogmem_allow_hashing_in_production": True}
    assert s.required_keys(s.resolve(demo)) == []
    evaluated = {**demo, "cogmem_evaluation_enabled": True}
    assert s.required_keys(s.resolve(evaluated)) == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]


def test_a_throwaway_host_keeps_its_ports_and_holds_a_lower_disk_floor(tmp_path):
    from provisioning.inventories import throwaway_data
    from provisioning.testhost import TestHost

    host = TestHost(name="cogmem-unit", folder=tmp_path, ssh_port=2222)  # its record, not booted
    first, again = throwaway_data(host), throwaway_data(host)
    assert first == again  # the ports are kept for the host's lifetime
    resolved = s.resolve(first)
    assert resolved["cogmem_min_free_disk_gb"] < s.resolve({})["cogmem_min_free_disk_gb"] == 10
    assert resolved["postgresql_port"] not in (2222, resolved["cogmem_http_port"])
