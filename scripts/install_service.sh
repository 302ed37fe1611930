#!/usr/bin/env bash
# Install the memory server's systemd unit on a host without pyinfra (run as root).
#
#   scripts/install_service.sh [--prefix DIR] [--user NAME] [--host ADDR] [--port N]
#                              [--watchdog-sec N] [--restart-sec N] [--dry-run]
#
# Renders templates/cognitive-memory-mcp.service.j2 with provisioning/defaults.yml (options
# override it), the same unit the deploy installs; checks it with systemd-analyze verify;
# creates the system user if missing; installs the unit, reloads systemd, enables and
# (re)starts the service and waits until it is active. --dry-run prints the unit and stops.
# Expects the app in PREFIX/venv and PREFIX/config/{config.yaml,.env.production} (mode 600).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
unit_name=cognitive-memory-mcp.service
dry_run=0
overrides=()

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) overrides+=("cogmem_prefix=$2"); shift 2 ;;
        --user) overrides+=("cogmem_user=$2"); shift 2 ;;
        --host) overrides+=("cogmem_http_host=$2"); shift 2 ;;
        --port) overrides+=("cogmem_http_port=$2"); shift 2 ;;
        --watchdog-sec) overrides+=("cogmem_watchdog_sec=$2"); shift 2 ;;
        --restart-sec) overrides+=("cogmem_restart_sec=$2"); shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "error: unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
done

# Any Python with Jinja2 and PyYAML renders it: the app's own virtualenv has both.
python=${COGMEM_PYTHON:-}
for candidate in "$python" /opt/cognitive-memory/venv/bin/python python3; do
    if [ -n "$candidate" ] && "$candidate" -c 'import jinja2, yaml' 2>/dev/null; then
        python=$candidate
        break
    fi
    python=
done
[ -n "$python" ] || { echo "error: need a Python with jinja2 and PyYAML (the app's venv has them)" >&2; exit 2; }

settings=$(mktemp)
unit=$(mktemp)
trap 'rm -f "$settings" "$unit"' EXIT
"$python" - "$repo" "$settings" "$unit" "${overrides[@]}" <<'PYTHON'
import shlex, sys
from pathlib import Path

import jinja2, yaml

repo, settings_out, unit_out, *pairs = sys.argv[1:]
settings = yaml.safe_load(Path(repo, "provisioning/defaults.yml").read_text())
for pair in pairs:
    key, _, value = pair.partition("=")
    settings[key] = int(value) if isinstance(settings[key], int) else value
for key in ("cogmem_http_port", "cogmem_watchdog_sec", "cogmem_restart_sec"):
    if not isinstance(settings[key], int):
        sys.exit(f"error: {key} must be a whole number")
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(repo, "templates"))),
    undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True,
)
rendered = environment.get_template("cognitive-memory-mcp.service.j2").render(**settings)
Path(unit_out).write_text(rendered)
with open(settings_out, "w") as handle:
    for key in ("cogmem_prefix", "cogmem_user", "cogmem_http_host", "cogmem_http_port"):
        handle.write(f"{key}={shlex.quote(str(settings[key]))}\n")
PYTHON
# shellcheck disable=SC1090
. "$settings"

if [ "$dry_run" = 1 ]; then
    cat "$unit"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "error: run as root (it installs a systemd unit)" >&2; exit 2; }
[ -x "$cogmem_prefix/venv/bin/cognitive-memory" ] || {
    echo "error: $cogmem_prefix/venv/bin/cognitive-memory is missing; install the app first" >&2; exit 2; }
env_file="$cogmem_prefix/config/.env.production"
[ -f "$env_file" ] || { echo "error: $env_file is missing (see config/.env.template)" >&2; exit 2; }

if ! id "$cogmem_user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$cogmem_prefix" --no-create-home \
        --shell /usr/sbin/nologin --comment "Cognitive Memory" "$cogmem_user"
    echo "created system user $cogmem_user"
fi
chown -R "$cogmem_user:$cogmem_user" "$cogmem_prefix/config"
chmod 700 "$cogmem_prefix/config"
chmod 600 "$env_file"

# Check the unit under its own name before it replaces the installed one.
check_dir=$(mktemp -d)
install -m 644 "$unit" "$check_dir/$unit_name"
if ! verify=$(cd "$check_dir" && systemd-analyze verify "./$unit_name" 2>&1) || [ -n "$verify" ]; then
    rm -rf "$check_dir"
    echo "error: systemd-analyze verify refused the unit:" >&2
    echo "$verify" >&2
    exit 1
fi
install -m 644 "$check_dir/$unit_name" "/etc/systemd/system/$unit_name"
rm -rf "$check_dir"
systemctl daemon-reload
systemctl enable "$unit_name" >/dev/null
if ! systemctl restart "$unit_name"; then
    journalctl -u "$unit_name" -n 30 --no-pager >&2 || true
    echo "error: $unit_name did not start (journal above)" >&2
    exit 1
fi
echo "$unit_name is $(systemctl is-active "$unit_name"): http://$cogmem_http_host:$cogmem_http_port/mcp"
