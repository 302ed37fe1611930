#!/usr/bin/env bash
# Restore a dump: `cognitive-memory restore` under the seed's name.
#
#   restore_postgres.sh [--env production|development] [--yes] DUMP_FILE
#
# Refuses a dump whose sha256 does not match, asks unless --yes, stops the service (as root),
# restores into a new database and swaps it in only when complete (the replaced one is kept as
# <db>__previous), checks row counts, starts the service, prints each step.
set -euo pipefail

args=(restore)
while [ $# -gt 0 ]; do
    case $1 in
        --env) args+=("$1" "$2"); shift 2 ;;
        --yes|-y) args+=(--yes); shift ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option: $1" >&2; exit 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
export ENVIRONMENT=${ENVIRONMENT:-production}
export COGMEM_CONFIG_DIR=${COGMEM_CONFIG_DIR:-/opt/cognitive-memory/config}

here=$(cd "$(dirname "$0")" && pwd)
python=${COGMEM_PYTHON:-$here/../venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
exec "$python" -m mcp_server.cli "${args[@]}"
