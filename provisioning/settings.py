"""The deploy's settings: provisioning/defaults.yml overridden by inventory data, checked.

Everything here runs on the control machine before any operation exists, so a bad setting
stops the deploy before the host changes. Messages name the key, the value and the fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROVISIONING = Path(__file__).resolve().parent
REPO = PROVISIONING.parent
DEFAULTS_FILE = PROVISIONING / "defaults.yml"
TEMPLATES = REPO / "templates"

# Keys with these prefixes are ours; any other inventory data (ssh_port, _sudo, ...) is not.
PREFIXES = ("cogmem_", "postgresql_")
SUPPORTED_POSTGRESQL_VERSIONS = (15, 16, 17, 18)
PACKAGE_SOURCES = ("debian", "pgdg")
# `local` (the server's own MiniLM) is not among them: the deploy installs the wheel without its
# `local` extra (torch and the model, gigabytes from PyPI). Offline hosts point `openai` at an
# OpenAI-compatible server on the host instead (Ollama, llama.cpp).
EMBEDDING_PROVIDERS = ("openai", "hashing")
CHAT_PROVIDERS = ("openai", "anthropic")
CHAT_MODELS = ("cogmem_evaluator", "cogmem_judge1", "cogmem_judge2")  # _provider/_model/_base_url
# Debian releases whose own archive has PostgreSQL *and* pgvector, by codename.
DEBIAN_POSTGRESQL = {"trixie": 17, "forky": 18}

# What the deployer may hand over as secrets (environment or the secrets file).
DEPLOYER_SECRETS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "ALERT_EMAIL_TO",
    "ALERT_EMAIL_FROM",
    "SLACK_WEBHOOK_URL",
)
API_KEY_PLACEHOLDERS = {
    "OPENAI_API_KEY": "your-openai-api-key",
    "ANTHROPIC_API_KEY": "your-anthropic-api-key",
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SYSTEM_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_ABSOLUTE_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+/?$")
_MEMORY = re.compile(r"^[1-9][0-9]{0,6}(kB|MB|GB|TB)$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_CRON_FIELD = re.compile(r"^[0-9*/,-]+$|^[A-Za-z]{3}(-[A-Za-z]{3})?$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


class SettingsError(Exception):
    """A setting the user must fix before anything on the host changes."""


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must be a mapping of setting: value")
    return data


DEFAULTS = load_defaults()


def _coerce(key: str, value: Any, default: Any, source: str) -> Any:
    """Values from `pyinfra --data key=value` arrive as strings: read them as the default's type."""
    problem = f"{source}: {key}={value!r}"
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        if not isinstance(value, bool):
            raise SettingsError(f"{problem} must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{problem} must be a whole number")
        return value
    if isinstance(default, list):
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip().startswith("[") else [value]
            except ValueError:
                raise SettingsError(f"{problem} must be a list (JSON on the command line)") from (
                    None
                )
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{problem} must be a list of strings")
        return value
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise SettingsError(f"{problem} must be a string")
    return str(value)


def ours(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if isinstance(k, str) and k.startswith(PREFIXES)}


def resolve(data: Mapping[str, Any], source: str = "inventory") -> dict[str, Any]:
    """Defaults overridden by `data` (inventory host/group data), checked: SettingsError."""
    given = ours(data)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
        raise SettingsError(
            f"{source}: unknown setting(s): {', '.join(hints)}. "
            f"Every setting is listed in {DEFAULTS_FILE.relative_to(REPO)}"
        )
    settings = dict(DEFAULTS)
    for key, value in given.items():
        settings[key] = _coerce(key, value, DEFAULTS[key], source)
    check(settings, source)
    return settings


def _fail(source: str, key: str, value: Any, why: str) -> None:
    raise SettingsError(f"{source}: {key}={value!r} {why}")


def check(s: dict[str, Any], source: str = "settings") -> None:
    """Every rule a value must follow; the first broken one raises."""
    version = s["postgresql_version"]
    if version not in SUPPORTED_POSTGRESQL_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_POSTGRESQL_VERSIONS))
        _fail(source, "postgresql_version", version, f"is not supported; use one of {supported}")
    if s["postgresql_package_source"] not in PACKAGE_SOURCES:
        _fail(
            source,
            "postgresql_package_source",
            s["postgresql_package_source"],
            f"must be one of {', '.join(PACKAGE_SOURCES)}",
        )
    for key in ("cogmem_db_name", "cogmem_dev_db_name", "cogmem_db_user"):
        if not _IDENTIFIER.match(s[key]):
            _fail(
                source,
                key,
                s[key],
                "is not a safe PostgreSQL name: use lowercase letters, digits and _ "
                "(at most 63), starting with a letter or _",
            )
    if s["cogmem_db_name"] == s["cogmem_dev_db_name"]:
        _fail(
            source,
            "cogmem_dev_db_name",
            s["cogmem_dev_db_name"],
            "equals cogmem_db_name; production and development need separate databases",
        )
    if s["cogmem_db_user"] == "postgres":
        _fail(source, "cogmem_db_user", "postgres", "must not be the superuser")
    if not _SYSTEM_USER.match(s["cogmem_user"]) or s["cogmem_user"] == "root":
        _fail(source, "cogmem_user", s["cogmem_user"], "is not a valid system user name")
    for key in ("cogmem_prefix", "cogmem_backup_dir"):
        if not _ABSOLUTE_PATH.match(s[key]) or s[key].rstrip("/") in ("", "/usr", "/etc", "/var"):
            _fail(
                source,
                key,
                s[key],
                "must be an absolute path of letters, digits and ._- (no spaces or quotes)",
            )
    if not _MEMORY.match(s["postgresql_shared_buffers"]):
        _fail(
            source,
            "postgresql_shared_buffers",
            s["postgresql_shared_buffers"],
            "must be a size such as 512MB or 2GB",
        )
    for key in ("postgresql_port", "cogmem_http_port"):
        if not 1 <= s[key] <= 65535:
            _fail(source, key, s[key], "must be a TCP port (1-65535)")
    for key in ("postgresql_listen_address", "cogmem_http_host"):
        if not _is_address(s[key], allow_list=key == "postgresql_listen_address"):
            _fail(source, key, s[key], "must be an IP address or a host name")
    if s["cogmem_watchdog_sec"] < 4:
        _fail(source, "cogmem_watchdog_sec", s["cogmem_watchdog_sec"], "must be at least 4")
    if s["cogmem_restart_sec"] < 0:
        _fail(source, "cogmem_restart_sec", s["cogmem_restart_sec"], "must not be negative")
    for key in ("cogmem_backup_retention_days", "cogmem_backup_max_age_hours",
                "cogmem_export_retention_days", "cogmem_min_free_disk_gb"):  # fmt: skip
        if s[key] < 1:
            _fail(source, key, s[key], "must be at least 1")
    for key in [k for k in s if k.startswith("cogmem_cron_")]:
        if not is_cron_schedule(s[key]):
            _fail(
                source,
                key,
                s[key],
                "is not a cron schedule: five fields (minute hour day month weekday) "
                "or a macro like @daily",
            )
    provider = s["cogmem_embedding_provider"]
    if provider == "local":
        _fail(
            source,
            "cogmem_embedding_provider",
            provider,
            "is not installed by the deploy (torch and the model are gigabytes from PyPI): for "
            "offline embeddings use openai with cogmem_embedding_base_url set to an "
            "OpenAI-compatible server on the host, such as Ollama",
        )
    if provider not in EMBEDDING_PROVIDERS:
        _fail(
            source,
            "cogmem_embedding_provider",
            provider,
            f"must be one of {', '.join(EMBEDDING_PROVIDERS)}",
        )
    if provider == "hashing" and not s["cogmem_allow_hashing_in_production"]:
        _fail(
            source,
            "cogmem_embedding_provider",
            provider,
            "is lexical, for demos only: production refuses it unless "
            "cogmem_allow_hashing_in_production is true",
        )
    if not 2 <= s["cogmem_embedding_dimension"] <= 16000:
        _fail(
            source,
            "cogmem_embedding_dimension",
            s["cogmem_embedding_dimension"],
            "must be between 2 and 16000",
        )
    for prefix in CHAT_MODELS:
        if s[f"{prefix}_provider"] not in CHAT_PROVIDERS:
            _fail(source, f"{prefix}_provider", s[f"{prefix}_provider"],
                  f"must be one of {', '.join(CHAT_PROVIDERS)}")  # fmt: skip
    chat_keys = [f"{p}_{k}" for p in CHAT_MODELS for k in ("model", "base_url")]
    for key in ("cogmem_embedding_model", "cogmem_embedding_base_url", "cogmem_pip_index_url",
                *chat_keys):  # fmt: skip
        if re.search(r"[\s'\"\\]", s[key]):
            _fail(source, key, s[key], "must not contain spaces, quotes or backslashes")
    for key, schemes in (
        ("cogmem_embedding_base_url", "https?"),
        ("cogmem_pip_index_url", "https?|file"),
        *((f"{p}_base_url", "https?") for p in CHAT_MODELS),
    ):
        if s[key] and not re.match(rf"^({schemes})://", s[key]):
            _fail(source, key, s[key], "must be a URL")
    if s["cogmem_wheel"] and not Path(s["cogmem_wheel"]).is_file():
        _fail(source, "cogmem_wheel", s["cogmem_wheel"], "is not a file on this machine")
    if s["cogmem_restore_dump"] and not Path(s["cogmem_restore_dump"]).is_file():
        _fail(source, "cogmem_restore_dump", s["cogmem_restore_dump"], "is not a file here")
    if s["cogmem_restore_dump"] and not Path(s["cogmem_restore_dump"] + ".sha256").is_file():
        _fail(source, "cogmem_restore_dump", s["cogmem_restore_dump"],
              "has no .sha256 beside it (copy the dump with its .sha256 and .json)")  # fmt: skip
    if s["cogmem_wheelhouse"] and not Path(s["cogmem_wheelhouse"]).is_dir():
        _fail(source, "cogmem_wheelhouse", s["cogmem_wheelhouse"], "is not a folder here")
    for path in s["cogmem_ca_certificates"]:
        if not Path(path).is_file():
            _fail(source, "cogmem_ca_certificates", path, "is not a file on this machine")
    check_offsite(s, source)


# A pgBackRest recovery target time: date, time, optional fraction and zone.
_RESTORE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?( ?([+-]\d{2}(:?\d{2})?|Z|UTC))?$"
)
RESTORE_SOURCES = ("dump", "latest")


def check_offsite(s: dict[str, Any], source: str) -> None:
    """The off-host backup and recovery settings (see provisioning/defaults.yml)."""
    for key in ("cogmem_backup_host", "cogmem_backup_host_address"):
        if s[key] and not _HOSTNAME.match(s[key]):
            _fail(source, key, s[key], "must be a host name or an IP address")
    if not 0 <= s["cogmem_backup_host_port"] <= 65535:
        _fail(source, "cogmem_backup_host_port", s["cogmem_backup_host_port"], "is no TCP port")
    if not _SYSTEM_USER.match(s["cogmem_backup_account"]) or s["cogmem_backup_account"] == "root":
        _fail(source, "cogmem_backup_account", s["cogmem_backup_account"], "is not a user name")
    root = s["cogmem_backup_root"]
    if not _ABSOLUTE_PATH.match(root) or root.rstrip("/") in ("", "/usr", "/etc", "/var", "/srv"):
        _fail(source, "cogmem_backup_root", root, "must be an absolute path of its own")
    if s["cogmem_backup_name"] and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", s["cogmem_backup_name"]
    ):
        _fail(source, "cogmem_backup_name", s["cogmem_backup_name"], "must be letters, digits, ._-")
    if s["cogmem_pitr_archive_timeout"] < 1:
        _fail(source, "cogmem_pitr_archive_timeout", s["cogmem_pitr_archive_timeout"], "< 1")
    for key in ("cogmem_pitr_retention_full", "cogmem_pitr_retention_diff"):
        if s[key] < 1:
            _fail(source, key, s[key], "must be at least 1")
    wanted = s["cogmem_restore_from"]
    if wanted and wanted not in RESTORE_SOURCES and not _RESTORE_TIME.match(wanted):
        _fail(
            source,
            "cogmem_restore_from",
            wanted,
            'must be dump, latest or a time like "2026-11-26 01:30:00+00"',
        )
    if wanted and not s["cogmem_backup_host"]:
        _fail(source, "cogmem_restore_from", wanted, "needs cogmem_backup_host (where from?)")
    if wanted and s["cogmem_restore_dump"]:
        _fail(source, "cogmem_restore_from", wanted, "and cogmem_restore_dump: choose one")


def _is_address(value: str, allow_list: bool) -> bool:
    parts = [p.strip() for p in value.split(",")] if allow_list else [value]
    for part in parts:
        if part in ("*", "localhost"):
            continue
        try:
            ipaddress.ip_address(part)
        except ValueError:
            if not _HOSTNAME.match(part):
                return False
    return bool(parts)


def is_cron_schedule(value: str) -> bool:
    fields = value.split()
    if len(fields) == 1:
        return fields[0] in _CRON_MACROS
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)


def check_distribution(s: dict[str, Any], distribution: Mapping[str, Any], source: str) -> None:
    """PostgreSQL version and package source against what the host's release offers."""
    name = (distribution.get("name") or "").lower()
    codename = (distribution.get("release_meta") or {}).get("VERSION_CODENAME", "")
    if name not in ("debian", "ubuntu"):
        raise SettingsError(
            f"{source}: the host runs {distribution.get('name') or 'an unknown system'}; "
            "this deploy supports Debian (13 by default) and Ubuntu"
        )
    if s["postgresql_package_source"] != "debian" or name != "debian":
        return
    shipped = DEBIAN_POSTGRESQL.get(codename)
    if shipped is None:
        raise SettingsError(
            f"{source}: Debian {codename or distribution.get('major')} has no pgvector package "
            "for PostgreSQL in its own archive; use Debian 13 (trixie) or set "
            "postgresql_package_source: pgdg"
        )
    if shipped != s["postgresql_version"]:
        raise SettingsError(
            f"{source}: postgresql_version={s['postgresql_version']} but Debian {codename} ships "
            f"PostgreSQL {shipped}; set postgresql_version: {shipped} or "
            "postgresql_package_source: pgdg"
        )


# --- secrets the deployer hands over --------------------------------------------------------


def secrets_file_path(s: Mapping[str, Any]) -> Path:
    return Path(os.environ.get("COGMEM_SECRETS_FILE") or s["cogmem_secrets_file"]).expanduser()


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def deployer_secrets(
    s: Mapping[str, Any], environ: Mapping[str, str] = os.environ, load=_read_yaml
) -> dict:
    """API keys and alert settings: the secrets file, overridden by the environment.

    Only names in DEPLOYER_SECRETS; values are never printed. The generated password and token
    are not here: they are made on the host. `load` reads the file (Ansible passes one that
    decrypts a Vault file).
    """
    path = secrets_file_path(s)
    found: dict[str, str] = {}
    if path.is_file():
        if path.stat().st_mode & 0o077:
            raise SettingsError(f"{path} holds secrets: run chmod 600 {path}")
        try:
            document = load(path) or {}
        except yaml.YAMLError:
            raise SettingsError(f"{path} is not valid YAML") from None
        if not isinstance(document, dict):
            raise SettingsError(f"{path} must be a mapping of NAME: value")
        unknown = sorted(set(document) - set(DEPLOYER_SECRETS))
        if unknown:
            raise SettingsError(
                f"{path}: unknown name(s) {', '.join(map(str, unknown))}; "
                f"allowed: {', '.join(DEPLOYER_SECRETS)}"
            )
        found.update({k: str(v) for k, v in document.items() if v not in (None, "")})
    found.update({k: environ[k] for k in DEPLOYER_SECRETS if environ.get(k)})
    for name, value in found.items():
        if "\n" in value or "\r" in value:
            raise SettingsError(f"{name} contains a line break")
    return found


def required_keys(s: Mapping[str, Any]) -> list[str]:
    """API keys the server refuses to start without, for this configuration."""
    providers = {s["cogmem_embedding_provider"]}
    if s["cogmem_embedding_provider"] == "openai" and s["cogmem_embedding_base_url"]:
        providers = set()
    if s["cogmem_evaluation_enabled"]:
        for prefix in CHAT_MODELS:
            # An OpenAI-compatible server of one's own (Ollama, vLLM) needs no OpenAI key.
            if not (s[f"{prefix}_provider"] == "openai" and s[f"{prefix}_base_url"]):
                providers.add(s[f"{prefix}_provider"])
    names = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
    return sorted(names[p] for p in providers if p in names)


def is_placeholder(value: str | None) -> bool:
    """The server's own rule (mcp_server.config): empty, `your-...` or `...-here`."""
    if value is None or not value.strip():
        return True
    lowered = value.strip().lower()
    return lowered.startswith("your-") or lowered.endswith("-here") or "your-" in lowered
