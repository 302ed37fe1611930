#!/usr/bin/env bash
# Dump one environment's database (pg_dump -Fc), check the dump, then delete old dumps.
#
#   backup_postgres.sh [--env production|development] [--dir DIR] [--keep-days N]
#
# The connection comes from DATABASE_URL in $COGMEM_CONFIG_DIR/.env.$ENVIRONMENT (any libpq URL,
# query parameters such as ?sslmode=require included); the password goes to pg_dump through a
# temporary mode-600 passfile, never through the command line or the environment.
# Defaults (cron sets them): ENVIRONMENT=production, COGMEM_CONFIG_DIR=/opt/cognitive-memory/config,
# COGMEM_BACKUP_DIR=/var/backups/cognitive-memory/postgres, COGMEM_BACKUP_RETENTION_DAYS=7.
set -euo pipefail
umask 077

environment=${ENVIRONMENT:-production}
config_dir=${COGMEM_CONFIG_DIR:-/opt/cognitive-memory/config}
backup_dir=${COGMEM_BACKUP_DIR:-/var/backups/cognitive-memory/postgres}
keep_days=${COGMEM_BACKUP_RETENTION_DAYS:-7}

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --env) environment=$2; shift 2 ;;
        --dir) backup_dir=$2; shift 2 ;;
        --keep-days) keep_days=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "error: unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
done
case $environment in production|development) ;; *)
    echo "error: Invalid ENVIRONMENT value: '$environment'. Must be one of: development, production" >&2
    exit 2 ;;
esac
case $keep_days in ''|*[!0-9]*|0) echo "error: retention must be a whole number of days >= 1" >&2; exit 2 ;; esac
env_file="$config_dir/.env.$environment"
[ -r "$env_file" ] || { echo "error: cannot read $env_file (run as the service user or root)" >&2; exit 2; }
[ -d "$backup_dir" ] || { echo "error: backup folder $backup_dir does not exist" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# DATABASE_URL -> libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE, ...) and a
# passfile. Python's urllib parses the URL: percent-encoding, IPv6 hosts and ?query included.
python=${COGMEM_PYTHON:-$(command -v python3)}
"$python" - "$env_file" "$work/pgpass" > "$work/connection" <<'PYTHON'
import re, shlex, sys
from urllib.parse import parse_qsl, unquote, urlsplit

env_file, passfile = sys.argv[1], sys.argv[2]
url = None
for line in open(env_file, encoding="utf-8"):
    match = re.match(r"^\s*(?:export\s+)?DATABASE_URL\s*=\s*(.*?)\s*$", line)
    if match:
        raw = match.group(1)
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1]
        url = raw
if not url:
    sys.exit(f"error: no DATABASE_URL in {env_file}")
parts = urlsplit(url)
if parts.scheme not in ("postgresql", "postgres"):
    sys.exit(f"error: DATABASE_URL in {env_file} is not a postgresql:// URL")
names = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL", "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME", "options": "PGOPTIONS", "host": "PGHOST",
    "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING", "sslnegotiation": "PGSSLNEGOTIATION",
}
env = {
    "PGHOST": parts.hostname or "", "PGPORT": str(parts.port or ""),
    "PGUSER": unquote(parts.username or ""), "PGDATABASE": unquote(parts.path.lstrip("/")),
}
for key, value in parse_qsl(parts.query, keep_blank_values=True):
    if key not in names:
        sys.exit(f"error: DATABASE_URL parameter {key!r} is not supported here")
    env[names[key]] = value
if not env["PGDATABASE"]:
    sys.exit(f"error: DATABASE_URL in {env_file} names no database")
password = unquote(parts.password) if parts.password else ""
def field(value):
    return (value or "*").replace("\\", "\\\\").replace(":", "\\:")
with open(passfile, "w", encoding="utf-8") as handle:
    handle.write(":".join(field(v) for v in (env["PGHOST"], env["PGPORT"], env["PGDATABASE"],
                                                env["PGUSER"], password)) + "\n")
env["PGPASSFILE"] = passfile
for key, value in env.items():
    if value:
        print(f"export {key}={shlex.quote(value)}")
PYTHON
# shellcheck disable=SC1091
. "$work/connection"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$backup_dir/${PGDATABASE}_${stamp}.dump"
pg_dump --format=custom --compress=6 --no-password --file "$work/dump" "$PGDATABASE"
pg_restore --list "$work/dump" > /dev/null  # a dump pg_restore cannot read is no backup
mv "$work/dump" "$target"
echo "backup written: $target ($(du -h "$target" | cut -f1))"

# Retention: dumps of this database older than keep_days; the one just written always stays.
find "$backup_dir" -maxdepth 1 -type f -name "${PGDATABASE}_*.dump" ! -newer "$target" \
    ! -path "$target" -mmin "+$((keep_days * 1440))" -print -delete \
    | sed 's/^/deleted old backup: /'
