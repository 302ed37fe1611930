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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The environment's DATABASE_URL -> libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGSSLMODE, ...) and a mode-600 passfile; the app's own code checks the environment name and
# parses the URL (psycopg), in the app's virtualenv.
here=$(cd "$(dirname "$0")" && pwd)
python=${COGMEM_PYTHON:-$here/../venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
"$python" -m mcp_server.ops.libpq_env "$environment" "$config_dir" "$work/pgpass" \
    > "$work/connection" || exit 2
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
