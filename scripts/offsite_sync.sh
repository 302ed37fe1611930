#!/usr/bin/env bash
# Copy the dumps and the L2 export to the backup host (rsync over SSH), or fetch a dump back.
#
#   offsite_sync.sh                       copy, then delete dumps there older than the retention
#   offsite_sync.sh --check               only check that the backup host answers
#   offsite_sync.sh --fetch-latest-dump   download the newest dump there, print its local path
#
# The backup host, its pinned keys and this host's key are in $COGMEM_OFFSITE_DIR (written by the
# deploy: ssh_config, known_hosts, target). Files arrive under temporary names and are renamed
# only when complete (rsync --delay-updates): a broken transfer never looks like a backup. The
# newest dump on the backup host is never deleted. Exit 3: the backup host is unreachable.
# Defaults (cron sets them): COGMEM_OFFSITE_DIR=/opt/cognitive-memory/offsite,
# COGMEM_BACKUP_ROOT=/var/backups/cognitive-memory, COGMEM_BACKUP_RETENTION_DAYS=7.
set -euo pipefail
umask 077

offsite=${COGMEM_OFFSITE_DIR:-/opt/cognitive-memory/offsite}
root=${COGMEM_BACKUP_ROOT:-/var/backups/cognitive-memory}
keep_days=${COGMEM_BACKUP_RETENTION_DAYS:-7}
mode=copy

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --check) mode=check; shift ;;
        --fetch-latest-dump) mode=fetch; shift ;;
        -h|--help) usage 0 ;;
        *) echo "error: unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
done
case $keep_days in ''|*[!0-9]*|0) echo "error: retention must be a whole number of days >= 1" >&2; exit 2 ;; esac
[ -r "$offsite/target" ] || { echo "error: no backup host configured ($offsite/target); set cogmem_backup_host and deploy" >&2; exit 2; }
# shellcheck disable=SC1091
. "$offsite/target"  # COGMEM_OFFSITE_HOST (an alias in ssh_config), COGMEM_OFFSITE_FOLDER
remote=$COGMEM_OFFSITE_FOLDER
ssh_cmd="ssh -F $offsite/ssh_config"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

remote_run() { $ssh_cmd "$COGMEM_OFFSITE_HOST" "$@"; }

if ! remote_run true 2> "$work/ssh.err"; then
    host=$(awk '$1 == "HostName" {h=$2} $1 == "Port" {p=$2} END {print h ":" p}' "$offsite/ssh_config")
    echo "error: the backup host $host is unreachable: $(tail -n1 "$work/ssh.err")" >&2
    echo "  nothing was copied; the copies there are as they were. Check that it runs and that" >&2
    echo "  this host reaches it: $ssh_cmd $COGMEM_OFFSITE_HOST true" >&2
    exit 3
fi
[ "$mode" = check ] && { echo "backup host reachable: $remote"; exit 0; }

if [ "$mode" = fetch ]; then
    remote_run "ls -1 '$remote/postgres'" > "$work/list"
    # the newest sealed dump (its checksum is written last), else the newest dump
    dumps=$(grep -E '^[A-Za-z0-9_]+_[0-9]{8}T[0-9]{6}(\.[0-9]{3})?Z\.dump$' "$work/list" | sort || true)
    sealed=$(for d in $dumps; do grep -qxF "$d.sha256" "$work/list" && echo "$d"; done | tail -n1)
    latest=${sealed:-$(echo "$dumps" | tail -n1)}
    [ -n "$latest" ] || { echo "error: no dump in $remote/postgres on the backup host" >&2; exit 2; }
    mkdir -p "$root/postgres"
    rsync -a --delay-updates -e "$ssh_cmd" \
        --include="$latest" --include="$latest.sha256" --include="$latest.json" --exclude='*' \
        "$COGMEM_OFFSITE_HOST:$remote/postgres/" "$root/postgres/" >&2
    if [ -f "$root/postgres/$latest.sha256" ]; then
        (cd "$root/postgres" && sha256sum --check --quiet "$latest.sha256") >&2 \
            || { echo "error: $latest does not match its checksum; not restored" >&2; exit 2; }
    fi
    pg_restore --list "$root/postgres/$latest" > /dev/null \
        || { echo "error: $latest is not a readable dump" >&2; exit 2; }
    echo "$root/postgres/$latest"
    exit 0
fi

# Dumps with their checksums and manifests; never a file still being written (a dot name).
rsync -a --delay-updates -e "$ssh_cmd" --exclude='.*' \
    --include='*.dump' --include='*.dump.sha256' --include='*.dump.json' --exclude='*' \
    "$root/postgres/" "$COGMEM_OFFSITE_HOST:$remote/postgres/"
echo "dumps copied to $remote/postgres"
# The L2 export: a git repository, mirrored (its history is its own retention).
if [ -d "$root/l2-exports" ]; then
    rsync -a --delete --delay-updates -e "$ssh_cmd" "$root/l2-exports/" "$COGMEM_OFFSITE_HOST:$remote/l2-exports/"
    echo "L2 export copied to $remote/l2-exports"
fi
# Retention there: dumps older than keep_days, never the newest.
remote_run "cd '$remote/postgres' && newest=\$(ls -1 *.dump 2>/dev/null | sort | tail -n1) && [ -n \"\$newest\" ] && find . -maxdepth 1 -type f \\( -name '*.dump' -o -name '*.dump.sha256' -o -name '*.dump.json' \\) ! -name \"\$newest*\" -mmin +$((keep_days * 1440)) -print -delete || true" \
    | sed 's/^/deleted old copy: /'
