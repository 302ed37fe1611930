"""An appliance with a backup host: WAL, backups, dumps and the L2 export leave the appliance.

    python -m provisioning deploy inventory/my_servers.py

One run deploys both: the backup host gets an account (`cogmem-backup`, SSH keys only) and a
folder per appliance under /srv/cognitive-memory-backups; the appliance makes its own keys
(never shown), pins the backup host's keys, archives WAL there with pgBackRest (at least every
60 s) and copies its dumps and L2 export there every night.

The backup host is lost or unreachable: the copies fail with an alert and the checklist shows
`pgbackrest check` in red. The appliance is lost: deploy a new one from the backup host,
    python -m provisioning deploy inventory/my_servers.py \\
        --data cogmem_backup_name=memory.example.org --data cogmem_restore_from=latest
(with the new host in `hosts`; `cogmem_restore_from` may also be `dump` or a time like
"2026-11-26 01:30:00+00").
"""

hosts = [
    (
        "memory.example.org",
        {
            "ssh_user": "root",
            # The backup host, by its name below; reached from this host at its ssh_hostname
            # (or set cogmem_backup_host_address / cogmem_backup_host_port).
            "cogmem_backup_host": "backup.example.org",
        },
    ),
]

backup_hosts = [
    ("backup.example.org", {"ssh_user": "root"}),
]
