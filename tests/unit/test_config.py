"""The environment contract: every configuration error has its exact, actionable message."""

from __future__ import annotations

import logging
import os

import pytest

from mcp_server.config import ConfigurationError, load_environment, load_settings
from mcp_server.log import SecretMasker, configure_logging


def write_env(config_dir, environment, text, mode=0o600):
    path = config_dir / f".env.{environment}"
    path.write_text(text)
    os.chmod(path, mode)
    return path


PRODUCTION_ENV = (
    "DATABASE_URL=postgresql://mcp_user:s3cret-pw@127.0.0.1/cognitive_memory\n"
    "OPENAI_API_KEY=sk-test-0123456789abcdef\n"
)


@pytest.mark.parametrize("value", ["prod", "dev", "Production", ""])
def test_invalid_environment_is_refused_with_the_contract_message(config_dir, value):
    with pytest.raises(ConfigurationError) as error:
        load_settings(value, config_dir)
    assert str(error.value) == (
        f"Invalid ENVIRONMENT value: {value!r}. Must be one of: development, production"
    )


def test_unset_environment_means_development(config_dir):
    config = load_environment(config_dir=config_dir)
    assert config["environment"] == "development"
    assert config["database"]["name"] == "cognitive_memory_dev"


def test_production_reads_its_sections_over_base(config_dir):
    write_env(config_dir, "production", PRODUCTION_ENV)
    config = load_environment("production", config_dir)
    assert config["database"]["name"] == "cognitive_memory"
    assert config["logging"] == {"level": "INFO", "slow_query_ms": 500}
    assert config["budget"]["monthly_limit_eur"] == 10.0
    assert "secrets" not in config


def test_missing_env_file_names_the_path_and_the_fix(config_dir):
    with pytest.raises(FileNotFoundError) as error:
        load_settings("production", config_dir)
    path = config_dir / ".env.production"
    assert str(error.value).startswith(f"Environment file not found: {path}")
    assert "chmod 600" in str(error.value)


def test_every_missing_and_placeholder_variable_is_named_at_once(config_dir):
    write_env(config_dir, "production", "OPENAI_API_KEY=your-openai-api-key\n")
    with pytest.raises(ConfigurationError) as error:
        load_settings("production", config_dir)
    assert str(error.value) == (
        f"Missing or placeholder values in {config_dir / '.env.production'}: "
        "DATABASE_URL, OPENAI_API_KEY"
    )


def test_suffix_placeholder_is_refused(config_dir):
    write_env(
        config_dir,
        "production",
        PRODUCTION_ENV.replace("sk-test-0123456789abcdef", "paste-key-here"),
    )
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        load_settings("production", config_dir)


def test_env_file_readable_by_others_is_refused_in_production(config_dir):
    path = write_env(config_dir, "production", PRODUCTION_ENV, mode=0o644)
    with pytest.raises(ConfigurationError) as error:
        load_settings("production", config_dir)
    assert str(error.value) == (
        f"Refusing to read {path}: mode 0644 lets group or others read secrets; "
        f"run: chmod 600 {path}"
    )


def test_provider_keys_follow_the_configured_providers(config_dir):
    # Development uses the hashing embedder and no judge: no key, no env file needed.
    settings = load_settings("development", config_dir)
    assert settings.providers_in_use() == {"hashing"}
    # Production uses OpenAI embeddings: the OpenAI key is required, Anthropic's is not.
    write_env(config_dir, "production", PRODUCTION_ENV)
    assert load_settings("production", config_dir).secret("ANTHROPIC_API_KEY") is None


def test_process_environment_overrides_the_env_file(config_dir, monkeypatch):
    write_env(config_dir, "production", PRODUCTION_ENV)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-process-0123456789")
    settings = load_settings("production", config_dir)
    assert settings.secret("OPENAI_API_KEY") == "sk-from-process-0123456789"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "must be a mapping with a 'base' section, not list"),
        ("base: [unclosed\n", "is not valid YAML (line 2)"),
        ("base: {}\nstaging: {}\n", "unknown top-level section(s): staging"),
        ("base:\n  databse: {name: x}\n", "unknown key 'databse'"),
        ("base:\n  search: {weights: {semantic: 0.9, keyword: 0.3}}\n", "must sum to 1"),
        ("base:\n  logging: {level: LOUD}\n", "'logging.level'"),
        (
            "base:\n  database: {name: x, pool_min_size: 4, pool_max_size: 3}\n",
            "database.pool_min_size (4) is above database.pool_max_size (3)",
        ),
        (
            "development:\n  database: {name: cognitive_memory}\n",
            "development and production both use database 'cognitive_memory'",
        ),
        ('development:\n  database: {name: "x\'; drop"}\n', "'database.name'"),
    ],
)
def test_bad_config_file_gives_one_clear_line(config_dir, text, message):
    (config_dir / "config.yaml").write_text(text)
    with pytest.raises(ConfigurationError) as error:
        load_settings("development", config_dir)
    assert message in str(error.value)
    assert str(config_dir / "config.yaml") in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("pool", "sizes"), [("pool_max_size: 1", (1, 1)), ("", (2, 5))])
def test_a_small_pool_lowers_the_default_minimum_with_it(config_dir, pool, sizes):
    text = f"development:\n  database: {{name: memories, {pool}}}\n"
    (config_dir / "config.yaml").write_text(text)
    database = load_settings("development", config_dir, secrets=False).database
    assert (database.pool_min_size, database.pool_max_size) == sizes


def test_unreadable_config_file(config_dir):
    (config_dir / "config.yaml").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigurationError, match="Cannot read config file"):
        load_settings("development", config_dir)


def test_production_refuses_the_hashing_embedder_unless_allowed(config_dir):
    write_env(config_dir, "production", PRODUCTION_ENV)
    text = (config_dir / "config.yaml").read_text()
    (config_dir / "config.yaml").write_text(
        text + "  embedding: {provider: hashing, model: h, dimension: 64}\n"
    )
    with pytest.raises(ConfigurationError, match="production refuses it"):
        load_settings("production", config_dir)


def test_secrets_never_reach_a_log_line(config_dir, capsys):
    write_env(config_dir, "production", PRODUCTION_ENV)
    settings = load_settings("production", config_dir)
    secrets = [v.get_secret_value() for v in settings.secrets.values()]
    configure_logging("DEBUG", secrets)
    log = logging.getLogger("test")
    log.info("connecting to %s", settings.secret("DATABASE_URL"))
    log.debug("key", extra={"api_key": settings.secret("OPENAI_API_KEY")})
    log.warning("header Authorization: Bearer abc.def-ghi")
    try:
        raise RuntimeError(f"failed with {settings.secret('OPENAI_API_KEY')}")
    except RuntimeError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err
    assert "sk-test-0123456789abcdef" not in err
    assert "abc.def-ghi" not in err
    assert err.count("***") >= 4
    assert '"level": "INFO"' in err


def test_masker_hides_unknown_passwords_in_urls():
    masker = SecretMasker()
    assert masker.mask("postgresql://u:p%40ss@h/db?sslmode=require") == (
        "postgresql://u:***@h/db?sslmode=require"
    )


def test_work_without_models_does_not_demand_api_keys(config_dir):
    write_env(
        config_dir,
        "production",
        PRODUCTION_ENV.replace("sk-test-0123456789abcdef", "your-openai-api-key"),
    )
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        load_settings("production", config_dir)
    settings = load_settings("production", config_dir, providers=False)
    assert settings.secret("DATABASE_URL").startswith("postgresql://")
    assert settings.secret("OPENAI_API_KEY") is None
