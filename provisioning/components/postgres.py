"""PostgreSQL and pgvector from the distribution (or apt.postgresql.org), on loopback only."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command, LinuxDistribution
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from provisioning import huge_pages
from provisioning.components import DEFAULTS, jinja, settings, template

PGDG_KEY_URL = "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
PGDG_KEY = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"
SYSCTL_FILE = "/etc/sysctl.d/60-cognitive-memory.conf"


@deploy("PostgreSQL", data_defaults=DEFAULTS)
def postgres() -> None:
    s = settings()
    version = s["postgresql_version"]
    etc = f"/etc/postgresql/{version}/main"
    kernel = host.get_fact(Command, command=huge_pages.FACT)

    # Install: the package creates and starts the cluster at once, on the first port no other
    # cluster of this host uses (5432). Given its own port first, it never binds one that
    # something else holds (another host sharing the network): that start failed and systemd
    # waited on it forever, and the install with it.
    files.template(
        name=f"Give the cluster the package creates the port {s['postgresql_port']} "
        "(createcluster.d)",
        src=template("postgresql-createcluster.conf.j2"),
        dest="/etc/postgresql-common/createcluster.d/cognitive-memory.conf",
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )
    if s["postgresql_package_source"] == "pgdg":
        _pgdg_repository()
    apt.packages(
        name=f"Install PostgreSQL {version} and pgvector",
        packages=[f"postgresql-{version}", f"postgresql-{version}-pgvector"],
        update=True,
        cache_time=24 * 3600,
        no_recommends=True,
    )

    # Configure
    listen = files.template(
        name=f"Make PostgreSQL listen on {s['postgresql_listen_address']}:{s['postgresql_port']}",
        src=template("postgresql.conf.j2"),
        dest=f"{etc}/conf.d/cognitive-memory.conf",
        user="postgres",
        group="postgres",
        mode="644",
        jinja_env_kwargs=jinja(),
        **s,
    )
    hba = files.template(
        name=f"Let only {s['cogmem_db_user']} in over TCP, with scram-sha-256 (pg_hba.conf)",
        src=template("pg_hba.conf.j2"),
        dest=f"{etc}/pg_hba.conf",
        user="postgres",
        group="postgres",
        mode="640",
        jinja_env_kwargs=jinja(),
        **s,
    )

    reserved = _huge_pages(s, huge_pages.reservation(kernel, s["postgresql_shared_buffers"]))

    # Activate
    systemd.service(
        name="Ensure PostgreSQL starts at boot",
        service="postgresql.service",
        running=True,
        enabled=True,
    )
    systemd.service(
        name=f"Restart PostgreSQL {version} after a change of its settings (address, port, memory)",
        service=f"postgresql@{version}-main.service",
        running=True,
        restarted=True,
        _if=any_changed(listen, *reserved),
    )
    systemd.service(
        name=f"Reload PostgreSQL {version} after a pg_hba.conf change",
        service=f"postgresql@{version}-main.service",
        running=True,
        reloaded=True,
        _if=hba.did_change,
    )
    systemd.service(
        name=f"Ensure the cluster {version}/main is running",
        service=f"postgresql@{version}-main.service",
        running=True,
    )


def _huge_pages(s: dict, pages: int) -> list:
    """Reserve `pages` huge pages for the shared memory (huge_pages.py); returns the operation
    whose change needs a restart. `pages` is 0 where the host cannot set them (a container)."""
    if not s["postgresql_huge_pages"]:
        files.file(name="Remove the huge page reservation", path=SYSCTL_FILE, present=False)
        return []
    if not pages:
        return []
    drop_in = files.template(
        name=f"Reserve {pages} huge pages for PostgreSQL's shared memory (sysctl.d)",
        src=template("sysctl-huge-pages.conf.j2"),
        dest=SYSCTL_FILE,
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja(),
        huge_page_count=pages,
        **s,
    )
    # Before PostgreSQL restarts, which maps them only if they are there at its start.
    server.shell(
        name="Apply the huge page reservation",
        commands=[f"sysctl --quiet --load={SYSCTL_FILE}"],
        _if=drop_in.did_change,
    )
    return [drop_in]


def _pgdg_repository() -> None:
    """apt.postgresql.org, for Debian 12, Ubuntu or another major version (untested here)."""
    codename = host.get_fact(LinuxDistribution)["release_meta"].get("VERSION_CODENAME", "")
    apt.packages(
        name="Install what adding the PostgreSQL apt repository needs",
        packages=["ca-certificates", "curl"],
        update=True,
        cache_time=24 * 3600,
    )
    files.download(
        name="Fetch the signing key of apt.postgresql.org",
        src=PGDG_KEY_URL,
        dest=PGDG_KEY,
        mode="644",
    )
    repository = apt.repo(
        name="Add the PostgreSQL apt repository (apt.postgresql.org)",
        src=(
            f"deb [signed-by={PGDG_KEY}] https://apt.postgresql.org/pub/repos/apt "
            f"{codename}-pgdg main"
        ),
        filename="pgdg",
    )
    apt.update(name="Read the PostgreSQL apt repository", _if=repository.did_change)
