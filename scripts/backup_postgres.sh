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
case $keep_days in ''|*[!0-9]*|0) echo "error: retention must be a whole number of days >= 1" >&2; exit 2 ;; esac
[ -d "$backup_dir" ] || { echo "error: backup folder $backup_dir does not exist" >&2; exit 2; }

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
