"""Point-in-time recovery: pgBackRest archives WAL and keeps backups on the backup host.

`pitr()` runs before the databases: it configures pgBackRest, restores a new host when asked
(cogmem_restore_from: latest or a time), and turns WAL archiving on. `pitr_base()` runs after
them: the first full backup, which recovery starts from.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from provisioning import offsite
from provisioning.components import DEFAULTS, jinja, settings, template

CONFIG = "/etc/pgbackrest/pgbackrest.conf"


@deploy("Point-in-time recovery", data_defaults=DEFAULTS)
def pitr() -> None:
    s = settings()
    where = offsite.target(s)
    version = s["postgresql_version"]
    archive = f"/etc/postgresql/{version}/main/conf.d/cognitive-memory-archive.conf"
    if not where:
        files.file(name="Ensure WAL archiving is off (no backup host)", path=archive, present=False)
        return

    # Install
    apt.packages(
        name="Install pgBackRest",
        packages=["pgbackrest"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )

    # Configure
    for folder in ("/etc/pgbackrest", "/var/log/pgbackrest"):
        files.directory(
            name=f"Ensure {folder}", path=folder, user="postgres", group="postgres", mode="750"
        )
    files.template(
        name=f"Point pgBackRest at the repository on {where.host} ({CONFIG})",
        src=template("pgbackrest.conf.j2"),
        dest=CONFIG,
        user="postgres",
        group="postgres",
        mode="640",
        jinja_env_kwargs=jinja(),
        **offsite.effective(s, where),
    )
    archiving = files.template(
        name=f"Archive WAL to {where.host} at least every {s['cogmem_pitr_archive_timeout']} s",
        src=template("postgresql-archive.conf.j2"),
        dest=archive,
        user="postgres",
        group="postgres",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )

    # archiving is set before a restore: the promoted cluster must archive its new timeline's
    # history file, or no later recovery can follow that timeline
    if s["cogmem_restore_from"] and s["cogmem_restore_from"] != "dump":
        offsite.pitr_restore(
            name=f"Restore this new host from {where.host} ({s['cogmem_restore_from']})",
            settings=s,
            wanted=s["cogmem_restore_from"],
        )
    # Activate: archive_mode needs a restart; the stanza is created once (later runs check it)
    systemd.service(
        name=f"Restart PostgreSQL {version} after an archiving change",
        service=f"postgresql@{version}-main.service",
        running=True,
        restarted=True,
        _if=archiving.did_change,
    )
    pgbackrest = f"cd / && runuser -u postgres -- pgbackrest --stanza={offsite.STANZA} "
    if s["cogmem_restore_from"] == "dump":
        # A dump restores into this host's own new cluster (another system id than the one the
        # stanza holds): it takes the stanza over. The old host's backups stay readable there.
        server.shell(
            name="Take over the pgBackRest stanza of the replaced host (or create it)",
            commands=[
                f"{pgbackrest} --log-level-console=off stanza-upgrade || "
                f"{pgbackrest} --log-level-console=warn stanza-create"
            ],
            _if=archiving.did_change,
        )
        return
    server.shell(
        name="Create the pgBackRest stanza if it is new (and check it matches this cluster)",
        commands=[f"{pgbackrest}--log-level-console=warn stanza-create"],
        _if=archiving.did_change,
    )


@deploy("Point-in-time recovery base", data_defaults=DEFAULTS)
def pitr_base() -> None:
    if not offsite.target(settings()):
        return
    offsite.first_full_backup(name="Take the first full backup unless the repository has one")
