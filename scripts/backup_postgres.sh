#!/usr/bin/env bash
# Dump one environment's database: `cognitive-memory backup run` under the seed's name.
#
#   backup_postgres.sh [--env production|development] [--dir DIR] [--keep-days N]
#
# Writes <db>_<UTC stamp>.dump (pg_dump -Fc) beside its .sha256 and .json (row counts), under a
# lock, renamed into place only when pg_restore --list reads it; then deletes dumps older than
# N days, never the newest good one. Defaults (cron sets them): ENVIRONMENT=production,
# COGMEM_CONFIG_DIR=/opt/cognitive-memory/config, COGMEM_BACKUP_DIR, COGMEM_BACKUP_RETENTION_DAYS.
set -euo pipefail

args=(backup run)
while [ $# -gt 0 ]; do
    case $1 in
        --env|--dir|--keep-days) args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $1" >&2; exit 2 ;;
    esac
done
export ENVIRONMENT=${ENVIRONMENT:-production}
export COGMEM_CONFIG_DIR=${COGMEM_CONFIG_DIR:-/opt/cognitive-memory/config}

here=$(cd "$(dirname "$0")" && pwd)
python=${COGMEM_PYTHON:-$here/../venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
exec "$python" -m mcp_server.cli "${args[@]}"
