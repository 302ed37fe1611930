"""What a deployed appliance looks like from inside, as text, so two hosts can be diffed.

Used by the parity e2e test: one host deployed by pyinfra, one by Ansible, same settings. Each
aspect (a rendered file, modes and owners, unit properties, schemas, packages, ...) becomes one
text; secrets are masked and each host's own ports named, so only real differences remain.
"""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any

from provisioning.checklist.support import UNIT
from provisioning.settings import PROVISIONING

FINGERPRINT = (PROVISIONING / "sql" / "schema_fingerprint.sql").read_text()
# Secrets in the env files: the database password inside DATABASE_URL, the token, API keys.
_SECRET_LINE = re.compile(
    r'^((?:MCP_HTTP_TOKEN|OPENAI_API_KEY|ANTHROPIC_API_KEY|SMTP_PASSWORD|SLACK_WEBHOOK_URL)=)".*"$',
    re.M,
)
_URL_PASSWORD = re.compile(r"(postgresql://[^:/@]+:)[^@]+@")
UNIT_PROPERTIES = (
    "Type", "NotifyAccess", "User", "Group", "Environment", "WorkingDirectory", "WatchdogUSec",
    "RestartUSec", "Restart", "RestartPreventExitStatus", "TimeoutStartUSec", "UMask",
    "ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "CapabilityBoundingSet",
    "RestrictAddressFamilies", "SystemCallFilter", "UnitFileState", "ActiveState", "SubState",
    "Wants", "After", "WantedBy",
)  # fmt: skip
SCHEMA_QUERY = """
SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
  SELECT format('column %s.%s %s %s', table_name, column_name, udt_name, is_nullable) AS line
  FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT format('extension %s %s', extname, extversion) FROM pg_extension
  UNION ALL SELECT format('migration %s', version) FROM schema_migrations
  UNION ALL SELECT format('owner %s', pg_get_userbyid(datdba)) FROM pg_database
            WHERE datname = current_database()
  UNION ALL SELECT format('encoding %s', pg_encoding_to_char(encoding)) FROM pg_database
            WHERE datname = current_database()
) AS items
"""
# Public keys (host keys pinned, appliance keys authorized): each host makes its own.
# The comment of an appliance's key names the host that made it (user@inventory name).
_PUBLIC_KEY = re.compile(
    r"\b(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( [\w.-]+@\S+)?"
)
ROLE_QUERY = (
    "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, "
    "left(rolpassword, 14) FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%' ORDER BY rolname"
)


def mask(text: str, settings: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """Secrets replaced by ***, the host's own ports by their setting's name, public keys by
    <key>, and each of `names` (a backup host's name, its SSH port) by its label."""
    text = _SECRET_LINE.sub(r'\1"***"', text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _PUBLIC_KEY.sub(
        lambda m: f"{m[1]} <key>" + (f" {m[2].split('@')[0].strip()}@<host>" if m[2] else ""), text
    )
    for key in ("postgresql_port", "cogmem_http_port"):
        text = re.sub(rf"\b{settings[key]}\b", f"<{key}>", text)
    for value, label in (names or {}).items():
        text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", label, text)
    return text


def _sh(host, command: str) -> str:
    result = host.run(command)
    failure = f"\n[exit {result.returncode}] {result.stderr}" if result.returncode else ""
    return result.stdout + failure


def _psql(host, settings: dict[str, Any], database: str, query: str) -> str:
    argv = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-p",
            str(settings["postgresql_port"]), "-d", database, "-c", query]  # fmt: skip
    return _sh(host, "cd / && " + shlex.join(argv))


def rendered_files(settings: dict[str, Any]) -> list[str]:
    prefix, version = settings["cogmem_prefix"], settings["postgresql_version"]
    return [
        f"/etc/postgresql/{version}/main/conf.d/cognitive-memory.conf",
        f"/etc/postgresql/{version}/main/pg_hba.conf",
        "/etc/postgresql-common/createcluster.d/cognitive-memory.conf",
        f"{prefix}/config/config.yaml",
        f"{prefix}/config/.env.production",
        f"{prefix}/config/.env.development",
        f"/etc/systemd/system/{UNIT}",
        "/etc/systemd/system/cognitive-memory-alert@.service",
        "/usr/local/bin/cognitive-memory",
        "/etc/cron.d/cognitive-memory",
        "/etc/cognitive-memory/deployed.json",
        f"{prefix}/bin/backup_postgres.sh",
        f"{prefix}/bin/restore_postgres.sh",
        f"{prefix}/bin/export_l2_insights.py",
        f"{prefix}/bin/staged_dual_judge_cli.py",
        f"{prefix}/bin/offsite_sync.sh",
        *(offsite_files(settings) if settings["cogmem_backup_host"] else []),
    ]


def offsite_files(settings: dict[str, Any]) -> list[str]:
    """What a backup host adds on the appliance (the private keys are compared by mode only)."""
    prefix, version = settings["cogmem_prefix"], settings["postgresql_version"]
    return [
        "/etc/pgbackrest/pgbackrest.conf",
        f"/etc/postgresql/{version}/main/conf.d/cognitive-memory-archive.conf",
        f"{prefix}/offsite/ssh_config",
        f"{prefix}/offsite/target",
        f"{prefix}/offsite/known_hosts",
        f"{prefix}/offsite/cogmem-backup.pub",
        "/var/lib/postgresql/.ssh/known_hosts",
        "/var/lib/postgresql/.ssh/cogmem-backup.pub",
    ]


def snapshot(host, settings: dict[str, Any], names: dict[str, str] | None = None) -> dict[str, str]:
    """{aspect: text} of a deployed host (a provisioning.testhost.TestHost, run as root);
    `names`: host-specific strings to mask (see mask)."""
    s = settings
    prefix, backups = s["cogmem_prefix"], s["cogmem_backup_dir"]
    state = {f"file {path}": _sh(host, f"cat {shlex.quote(path)}") for path in rendered_files(s)}
    folders = [prefix, f"{prefix}/bin", f"{prefix}/dist", f"{prefix}/config", backups,
               "/etc/cognitive-memory"]  # fmt: skip
    if s["cogmem_backup_host"]:
        folders += [f"{prefix}/offsite", "/var/lib/postgresql/.ssh", "/etc/pgbackrest",
                    "/var/log/pgbackrest"]  # fmt: skip
    listing = " ".join(shlex.quote(f) for f in folders)
    state["modes and owners"] = _sh(
        host,
        f"find {listing} -maxdepth 1 -not -name 'restore-*' -printf '%p %u %g %m %y\\n' | sort; "
        f"stat -c '%n %U %G %a' {' '.join(shlex.quote(p) for p in rendered_files(s))}",
    )
    state["service user"] = _sh(host, f"getent passwd {s['cogmem_user']} | cut -d: -f5-")
    properties = ",".join(UNIT_PROPERTIES)
    shown = _sh(host, f"systemctl show -p {properties} {UNIT}").splitlines()
    # dependency lists (After=, Wants=) are sets that systemd prints in no fixed order
    pairs = (line.partition("=") for line in shown)
    state["unit properties"] = "\n".join(
        sorted(f"{key}={' '.join(sorted(value.split()))}" for key, _, value in pairs)
    )
    state["enabled units"] = _sh(
        host, "systemctl is-enabled postgresql cron cognitive-memory-mcp; "
        "systemctl is-active postgresql cron cognitive-memory-mcp"
    )  # fmt: skip
    for database in (s["cogmem_db_name"], s["cogmem_dev_db_name"]):
        state[f"schema of {database}"] = _psql(host, s, database, SCHEMA_QUERY)
        state[f"schema digest of {database}"] = _psql(host, s, database, FINGERPRINT)
    state["roles"] = _psql(host, s, "postgres", ROLE_QUERY)
    state["packages"] = _sh(host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'")
    pip = f"{prefix}/venv/bin/pip"
    state["virtualenv"] = _sh(host, f"{pip} freeze --all --disable-pip-version-check")
    return {aspect: mask(text, s, names) for aspect, text in state.items()}


def backup_host_snapshot(host, settings: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """{aspect: text} of a backup host: its account, folders, authorized keys, packages."""
    account, root = settings["cogmem_backup_account"], settings["cogmem_backup_root"]
    state = {
        "backup account": _sh(
            host, f"getent passwd {account} | cut -d: -f5-; getent group {account} | cut -d: -f1,4"
        ),
        "backup folders": _sh(
            host, f"find {shlex.quote(root)} -maxdepth 2 -printf '%p %u %g %m %y\\n' | sort"
        ),
        "authorized keys": _sh(host, f"cat {shlex.quote(root)}/.ssh/authorized_keys"),
        "packages": _sh(host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'"),
    }
    return {aspect: mask(text, settings, names) for aspect, text in state.items()}


def differences(
    left: dict[str, str], right: dict[str, str], names: tuple[str, str], allowed=None
) -> list[str]:
    """A unified diff per aspect that differs; `allowed(aspect, line)` drops expected lines."""
    report = []
    for aspect in sorted(set(left) | set(right)):
        a = left.get(aspect, "(missing)\n").splitlines()
        b = right.get(aspect, "(missing)\n").splitlines()
        if allowed:
            a = [line for line in a if not allowed(aspect, line)]
            b = [line for line in b if not allowed(aspect, line)]
        if a != b:
            diff = difflib.unified_diff(a, b, names[0], names[1], lineterm="", n=1)
            report.append(f"--- {aspect}\n" + "\n".join(diff))
    return report
