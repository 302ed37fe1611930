#!/usr/bin/env bash
# Restore a dump made by backup_postgres.sh into one environment's database.
#
#   restore_postgres.sh [--env production|development] [--yes] DUMP_FILE
#
# Replaces every table of the database named in DATABASE_URL ($COGMEM_CONFIG_DIR/.env.$ENVIRONMENT)
# with the dump's, in one transaction (all or nothing). The extension (pgvector) is left to the
# deploy, which creates it as the superuser. Run as root, the script stops the server for the
# restore and starts it again; asks for the database name unless --yes.
set -euo pipefail
umask 077

environment=${ENVIRONMENT:-production}
config_dir=${COGMEM_CONFIG_DIR:-/opt/cognitive-memory/config}
unit=cognitive-memory-mcp.service
assume_yes=0
dump=

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --env) environment=$2; shift 2 ;;
        --yes|-y) assume_yes=1; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "error: unknown option: $1" >&2; usage 2 >&2 ;;
        *) dump=$1; shift ;;
    esac
done
[ -n "$dump" ] || { echo "error: which dump? restore_postgres.sh DUMP_FILE" >&2; exit 2; }
[ -r "$dump" ] || { echo "error: cannot read $dump" >&2; exit 2; }
case $environment in production|development) ;; *)
    echo "error: Invalid ENVIRONMENT value: '$environment'. Must be one of: development, production" >&2
    exit 2 ;;
esac
env_file="$config_dir/.env.$environment"
[ -r "$env_file" ] || { echo "error: cannot read $env_file (run as the service user or root)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The same DATABASE_URL parsing as backup_postgres.sh (URL, percent-encoding, ?sslmode=...).
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

pg_restore --list "$dump" > "$work/all" || { echo "error: $dump is not a pg_dump -Fc file" >&2; exit 2; }
if [ "$assume_yes" != 1 ]; then
    printf 'Replace every table of %s with %s? Type the database name: ' "$PGDATABASE" "$dump" >&2
    read -r answer
    [ "$answer" = "$PGDATABASE" ] || { echo "not restored" >&2; exit 1; }
fi

# Skip the extension's own entries: the app role does not own pgvector and need not.
grep -v -E ' EXTENSION | COMMENT - EXTENSION ' "$work/all" > "$work/list"

stopped=0
if [ "$(id -u)" = 0 ] && [ "$environment" = production ] && systemctl is-active --quiet "$unit" 2>/dev/null; then
    systemctl stop "$unit"
    stopped=1
fi
status=0
pg_restore --no-password --clean --if-exists --no-owner --no-privileges --single-transaction \
    --exit-on-error --use-list "$work/list" --dbname "$PGDATABASE" "$dump" || status=$?
[ "$stopped" = 1 ] && systemctl start "$unit"
if [ "$status" != 0 ]; then
    echo "error: restore failed (exit $status); $PGDATABASE is unchanged" >&2
    exit "$status"
fi
echo "restored $dump into $PGDATABASE"
