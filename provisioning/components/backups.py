"""Backup folders (mode 700), the backup, restore and export scripts the cron jobs call, and the
alert unit that the server's OnFailure= starts."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from provisioning.components import DEFAULTS, jinja, settings, template
from provisioning.settings import REPO

# Scripts installed into <prefix>/bin; the ones other parts of the repository may not ship yet
# are skipped with a note rather than failing the deploy.
SCRIPTS = (
    "backup_postgres.sh",
    "restore_postgres.sh",
    "export_l2_insights.py",
    "staged_dual_judge_cli.py",
)
ALERT_UNIT = "cognitive-memory-alert@.service"
ADMIN_COMMAND = "/usr/local/bin/cognitive-memory"
# dumps, L2 export history, the outcome of each watched job's last run
FOLDERS = ("postgres", "l2-exports", "jobs")


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
    files.template(
        name=f"Install {ADMIN_COMMAND} (the app with the production settings, for the operator)",
        src=template("cognitive-memory-admin.sh.j2"),
        dest=ADMIN_COMMAND,
        user="root",
        group="root",
        mode="755",
        jinja_env_kwargs=jinja(),
        **s,
    )
    alert_unit = files.template(
        name=f"Install the alert unit {ALERT_UNIT} (OnFailure= of the server)",
        src=template(f"{ALERT_UNIT}.j2"),
        dest=f"/etc/systemd/system/{ALERT_UNIT}",
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )

    # Configure: dumps and exports readable by the service user only
    for folder in (root, *(f"{root}/{sub}" for sub in FOLDERS)):
        files.directory(
            name=f"Ensure {folder} (mode 700)",
            path=folder,
            user=user,
            group=user,
            mode="700",
        )

    # Activate: systemd reads the new alert unit
    systemd.daemon_reload(name="Reload systemd for the alert unit", _if=alert_unit.did_change)
    return missing
