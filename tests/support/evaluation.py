"""Settings for the evaluation loop pointed at the fake model server (real SDKs, loopback)."""

from __future__ import annotations

from pydantic import SecretStr

from mcp_server.config import ModelRef, Settings

FAST_RETRY = {"delays_s": [0.01, 0.01], "jitter_s": 0.0, "timeout_s": 10}
PRICES = {"gpt-4o": 0.0023, "claude-3-5-haiku-latest": 0.0009}


def evaluation_settings(settings: Settings, server, **evaluation) -> Settings:
    """Evaluator (Anthropic wire format) and two judges (OpenAI and Anthropic) on `server`."""
    haiku = ModelRef(provider="anthropic", model="claude-3-5-haiku-latest",
                     base_url=server.anthropic_base_url)  # fmt: skip
    gpt = ModelRef(provider="openai", model="gpt-4o", base_url=server.base_url)
    values = {"enabled": True, "evaluator": haiku, "judges": [gpt, haiku], **evaluation}
    secrets = {**settings.secrets, "ANTHROPIC_API_KEY": SecretStr("sk-ant-test-key-123")}
    return settings.model_copy(
        update={
            "evaluation": settings.evaluation.model_copy(update=values),
            "retry": settings.retry.model_copy(update=FAST_RETRY),
            "api_costs_eur": {**settings.api_costs_eur, **PRICES},
            "secrets": secrets,
        }
    )


def with_section(settings: Settings, section: str, **values) -> Settings:
    return settings.model_copy(
        update={section: getattr(settings, section).model_copy(update=values)}
    )


def point_cli_at(database, config_dir, monkeypatch) -> str:
    """Make the command line's own configuration use a migrated test database; its URL."""
    import yaml

    settings, url = database
    config = yaml.safe_load((config_dir / "config.yaml").read_text())
    config["development"]["database"]["name"] = settings.database.name
    (config_dir / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("COGMEM_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("DATABASE_URL", url)
    return url
