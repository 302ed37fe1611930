"""Backup folders (mode 700) and the backup, restore and export scripts the cron jobs call."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from provisioning.components import DEFAULTS, settings
from provisioning.settings import REPO

# Scripts installed into <prefix>/bin; the ones other parts of the repository may not ship yet
# are skipped with a note rather than failing the deploy.
SCRIPTS = (
    "backup_postgres.sh",
    "restore_postgres.sh",
    "offsite_sync.sh",
    "export_l2_insights.py",
    "staged_dual_judge_cli.py",
)


@deploy("Backups", data_defaults=DEFAULTS)
def backups() -> list[str]:
    """Returns the names of scripts this checkout does not have."""
    s = settings()
    user, root = s["cogmem_user"], s["cogmem_backup_dir"]

    # Install
    missing = []
    for script in SCRIPTS:
        source = REPO / "scripts" / script
        if not source.is_file():
            missing.append(script)
            continue
        files.put(
            name=f"Install {script}",
            src=str(source),
            dest=f"{s['cogmem_prefix']}/bin/{script}",
            user="root",
            group="root",
            mode="755",
        )

    # Configure: dumps and exports readable by the service user only
    for folder in (root, f"{root}/postgres", f"{root}/l2-exports"):
        files.directory(
            name=f"Ensure {folder} (mode 700)",
            path=folder,
            user=user,
            group=user,
            mode="700",
        )
    return missing
