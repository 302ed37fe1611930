"""The environment contract: config/config.yaml (base + per-environment) plus config/.env.<env>.

Nothing here imports the rest of the package (but user_config, which imports nothing of
ours), so every layer can read settings.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from mcp_server import user_config

ENVIRONMENTS = ("development", "production")
DATABASE_NAMES = {"development": "cognitive_memory_dev", "production": "cognitive_memory"}
SECRET_VARIABLES = (
    "DATABASE_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "MCP_HTTP_TOKEN",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "ALERT_EMAIL_TO",
    "ALERT_EMAIL_FROM",
    "SLACK_WEBHOOK_URL",
)
PROVIDER_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class ConfigurationError(Exception):
    """A configuration problem the user must fix; the message says how."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # Two, so a search finds a second connection idle for its keyword branch (memory/l2.py).
    pool_min_size: int = Field(2, ge=1)
    pool_max_size: int = Field(5, ge=1)
    connect_timeout_s: float = Field(5, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_minimum_fits(cls, data: Any) -> Any:
        """A pool_max_size below the default minimum lowers the minimum with it (a config of
        `pool_max_size: 1` from before the default was 2 keeps working)."""
        if isinstance(data, dict) and "pool_min_size" not in data:
            largest = data.get("pool_max_size")
            minimum = cls.model_fields["pool_min_size"].default
            if isinstance(largest, int) and 1 <= largest < minimum:
                data = {**data, "pool_min_size": largest}
        return data

    @model_validator(mode="after")
    def _pool_fits(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(
                f"database.pool_min_size ({self.pool_min_size}) is above database.pool_max_size "
                f"({self.pool_max_size}): lower the first or raise the second"
            )
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    slow_query_ms: int = Field(1000, ge=1)


class EmbeddingSettings(_Section):
    provider: Literal["openai", "local", "hashing"] = "openai"
    model: str = "text-embedding-3-small"
    dimension: int = Field(1536, ge=2, le=16000)
    base_url: str | None = None
    allow_hashing_in_production: bool = False


class SearchWeights(_Section):
    semantic: float = Field(0.5, ge=0, le=1)
    keyword: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SearchWeights:
        if abs(self.semantic + self.keyword - 1.0) > 1e-6:
            raise ValueError("search weights semantic + keyword must sum to 1")
        return self


class SearchSettings(_Section):
    weights: SearchWeights = SearchWeights()
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(100, ge=10, le=1000)
    ef_search: int = Field(160, ge=10, le=1000)  # HNSW search breadth: recall against speed
    text_search_config: str = Field("english", pattern=r"^[a-z_]+$")
    fusion: Literal["score", "rrf"] = "score"
    min_similarity: float = Field(0.2, ge=-1, le=1)
    context_turns: int = Field(2, ge=0, le=10)
    context_weight: float = Field(0.5, ge=0, le=1)
    diversity: float = Field(0.2, ge=0, le=1)  # memory/diversity.py; 0 ranks by score only
    diversify_after: int = Field(5, ge=0, le=100)
    answer_boost: float = Field(0.2, ge=0, le=1)  # memory/answers.py; 0 turns it off


class WorkingMemorySettings(_Section):
    capacity: int = Field(10, ge=1, le=10000)


class ModelRef(_Section):
    provider: Literal["openai", "anthropic"]
    model: str
    base_url: str | None = None  # an OpenAI-compatible or Anthropic-compatible server


class EvaluationSettings(_Section):
    enabled: bool = False
    evaluator: ModelRef = ModelRef(provider="anthropic", model="claude-3-5-haiku-latest")
    judges: list[ModelRef] = Field([], max_length=2)
    reflexion_reward_threshold: float = Field(0.3, ge=-1, le=1)
    # Judge calls in flight at once: 50 docs x 2 judges finish well inside a client's 60 s.
    judge_concurrency: int = Field(8, ge=1, le=64)


class RetrySettings(_Section):
    delays_s: list[float] = [1, 2, 4, 8]
    jitter_s: float = Field(0.5, ge=0)
    timeout_s: float = Field(30, gt=0)


class BudgetSettings(_Section):
    monthly_limit_eur: float = Field(10.0, gt=0)
    alert_threshold_pct: float = Field(80, gt=0, le=100)
    # True: once the month's spend reaches the limit, paid model calls are refused.
    hard_stop: bool = False


class StagedDualJudgeSettings(_Section):
    kappa_threshold: float = Field(0.85, ge=-1, le=1)
    kappa_fallback: float = Field(0.70, ge=-1, le=1)
    spot_check_rate: float = Field(0.05, ge=0, le=1)
    # The most recent dual-judged ground-truth rows whose kappa decides the move to phase 2.
    window_rows: int = Field(100, ge=1)
    # Spot checks of the last N days decide HEALTHY or LOW (and the revert) in phase 2.
    validation_days: int = Field(30, ge=1)
    # Fewer doc pairs than this in a window decide nothing.
    min_pairs: int = Field(20, ge=1)


class DriftSettings(_Section):
    # Drift: today's precision@5 more than `tolerance` below the mean of the last N days.
    tolerance: float = Field(0.05, ge=0, le=1)
    baseline_days: int = Field(7, ge=1, le=365)


class Settings(_Section):
    environment: Literal["development", "production"]
    config_dir: Path
    database: DatabaseSettings
    logging: LoggingSettings = LoggingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    search: SearchSettings = SearchSettings()
    working_memory: WorkingMemorySettings = WorkingMemorySettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    retry: RetrySettings = RetrySettings()
    api_costs_eur: dict[str, float] = {}
    budget: BudgetSettings = BudgetSettings()
    staged_dual_judge: StagedDualJudgeSettings = StagedDualJudgeSettings()
    drift: DriftSettings = DriftSettings()
    secrets: dict[str, SecretStr] = {}

    def secret(self, name: str) -> str | None:
        value = self.secrets.get(name)
        return value.get_secret_value() if value else None

    @property
    def env_file(self) -> Path:
        return env_file_path(self.config_dir, self.environment)

    def providers_in_use(self) -> set[str]:
        used = {self.embedding.provider}
        if self.evaluation.enabled:
            used.add(self.evaluation.evaluator.provider)
            used.update(judge.provider for judge in self.evaluation.judges)
        return used

    def providers_needing_keys(self) -> set[str]:
        """Providers whose API key is required: an OpenAI-compatible server of one's own
        (base_url set: Ollama, vLLM) needs none."""
        refs = [(self.embedding.provider, self.embedding.base_url)]
        if self.evaluation.enabled:
            evaluation = self.evaluation
            refs += [(m.provider, m.base_url) for m in (evaluation.evaluator, *evaluation.judges)]
        return {p for p, url in refs if p in PROVIDER_KEYS and not (p == "openai" and url)}


def resolve_environment(value: str | None = None) -> str:
    environment = value if value is not None else os.environ.get("ENVIRONMENT", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigurationError(
            f"Invalid ENVIRONMENT value: {environment!r}. Must be one of: {', '.join(ENVIRONMENTS)}"
        )
    return environment


def default_config_dir() -> Path:
    """COGMEM_CONFIG_DIR, else the user's config folder; never the working directory."""
    return user_config.config_home()


def env_file_path(config_dir: Path, environment: str) -> Path:
    return config_dir / f".env.{environment}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"Config file not found: {path}; create it with: cognitive-memory init"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"Cannot read config file {path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigurationError(f"Config file {path} is not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"Config file {path} must be a mapping with a 'base' section, "
            f"not {type(document).__name__}"
        )
    unknown = set(document) - {"base", *ENVIRONMENTS}
    if unknown:
        raise ConfigurationError(
            f"Config file {path} has unknown top-level section(s): {', '.join(sorted(unknown))}; "
            f"allowed: base, {', '.join(ENVIRONMENTS)}"
        )
    return document


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_placeholder(value: str | None) -> bool:
    if value is None or not value.strip():
        return True
    # "your-" anywhere also catches templates like postgresql://user:your-password@host/db.
    lowered = value.strip().lower()
    return "your-" in lowered or lowered.endswith("-here")


def _check_env_file_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"Refusing to read {path}: mode {mode:04o} lets group or others read secrets; "
            f"run: chmod 600 {path}"
        )


def _required_variables(settings: Settings, providers: bool) -> list[str]:
    used = settings.providers_needing_keys() if providers else set()
    required = [PROVIDER_KEYS[p] for p in sorted(used) if p in PROVIDER_KEYS]
    if settings.environment == "production":
        # The embedded cluster is a local convenience; production names its database.
        required.insert(0, "DATABASE_URL")
    return required


def _load_secrets(settings: Settings, providers: bool) -> dict[str, str]:
    path = settings.env_file
    required = _required_variables(settings, providers)
    from_process = {k: os.environ[k] for k in SECRET_VARIABLES if os.environ.get(k)}
    needs_file = settings.environment == "production" or any(
        k not in from_process for k in required
    )
    values: dict[str, str] = {}
    if path.is_file():
        if settings.environment == "production":
            _check_env_file_mode(path)
        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    elif needs_file:
        raise FileNotFoundError(
            f"Environment file not found: {path}. "
            f"Fix: cp {settings.config_dir / '.env.template'} {path} && chmod 600 {path}, "
            "then fill in the values"
        )
    values.update(from_process)
    missing = [k for k in required if _is_placeholder(values.get(k))]
    if missing:
        raise ConfigurationError(f"Missing or placeholder values in {path}: {', '.join(missing)}")
    return {k: v for k, v in values.items() if k in SECRET_VARIABLES and not _is_placeholder(v)}


def _format_validation_error(path: Path, environment: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key '{location}'")
        else:
            problems.append(f"'{location}': {item['msg']}")
    return f"Config file {path} ({environment}): " + "; ".join(problems)


def load_settings(
    environment: str | None = None,
    config_dir: Path | None = None,
    *,
    secrets: bool = True,
    providers: bool = True,
) -> Settings:
    """Read and validate the configuration of one environment; raise on anything wrong.

    `providers=False` is for work that calls no model (migrations, exports, reports): it
    does not demand the API keys, so a host can be migrated before the keys are filled in.
    """
    environment = resolve_environment(environment)
    if config_dir is None:
        config_dir = default_config_dir()
        if "COGMEM_CONFIG_DIR" not in os.environ and not (config_dir / "config.yaml").exists():
            # The first run of a local install creates the user's folder from the defaults.
            user_config.initialize(config_dir, environment)
    config_dir = Path(config_dir)
    path = config_dir / "config.yaml"
    document = _read_yaml(path)
    sections = [document.get("base") or {}, document.get(environment) or {}]
    for name, section in zip(("base", environment), sections, strict=True):
        if not isinstance(section, dict):
            raise ConfigurationError(f"Config file {path}: section '{name}' must be a mapping")
    merged = _deep_merge(sections[0], sections[1])
    try:
        settings = Settings(environment=environment, config_dir=config_dir, **merged)
    except ValidationError as error:
        raise ConfigurationError(_format_validation_error(path, environment, error)) from None
    except TypeError as error:
        raise ConfigurationError(f"Config file {path}: {error}") from None
    _check_environment_rules(settings, path, document)
    if secrets:
        loaded = _load_secrets(settings, providers)
        masked = {name: SecretStr(value) for name, value in loaded.items()}
        settings = settings.model_copy(update={"secrets": masked})
    return settings


def _check_environment_rules(settings: Settings, path: Path, document: dict) -> None:
    other = next(e for e in ENVIRONMENTS if e != settings.environment)
    other_name = (
        _deep_merge(document.get("base") or {}, document.get(other) or {})
        .get("database", {})
        .get("name", DATABASE_NAMES[other])
    )
    if other_name == settings.database.name:
        raise ConfigurationError(
            f"Config file {path}: development and production both use database "
            f"'{other_name}'; each environment needs its own database"
        )
    embedding = settings.embedding
    if (
        settings.environment == "production"
        and embedding.provider == "hashing"
        and not embedding.allow_hashing_in_production
    ):
        raise ConfigurationError(
            f"Config file {path}: the 'hashing' embedder is lexical, for tests and demos only; "
            "production refuses it unless embedding.allow_hashing_in_production is true"
        )


def load_environment(environment: str | None = None, config_dir: Path | None = None) -> dict:
    """The original contract: a plain dict with at least `environment` and `database.name`."""
    settings = load_settings(environment, config_dir)
    return settings.model_dump(mode="json", exclude={"secrets"})
