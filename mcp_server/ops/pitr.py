"""Point-in-time restore on a deployed host: pgBackRest restores beside the live cluster.

    cognitive-memory restore --time "2026-11-26 01:30:00+00"      (as root)

pgBackRest (configured by the deploy when `cogmem_backup_host` is set) restores the cluster as
it was at `time` into a new data directory while the live one keeps running. Only then is the
live cluster stopped, its directory renamed to `main.previous-<stamp>` (kept), the restored one
renamed into place and started; recovery replays the archived WAL up to `time` and promotes. If
the restored cluster does not come up, the previous directory goes back and starts again: the
host is never left without its database. The whole cluster moves (both databases): PITR works
on clusters, not on single databases.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mcp_server.ops.errors import OpsError

STANZA = "cognitive-memory"
# A cluster that does not start within this long is given up on (and the previous one restored).
START_TIMEOUT = 180
CLUSTERS = Path("/etc/postgresql")
DATA = Path("/var/lib/postgresql")
_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?( ?([+-]\d{2}(:?\d{2})?|Z))?$"
)


def parse_time(text: str) -> dt.datetime:
    """A recovery target: an ISO date and time; without a zone it is UTC."""
    if not _TIME.match(text.strip()):
        raise OpsError(f"--time {text!r}: use a time like '2026-11-26 01:30:00+00'")
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _as_postgres(*argv: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )


class PitrRestore:
    """The cluster as it was at a moment, from the repository on the backup host."""

    def __init__(self, time: str, database: str, port: int) -> None:
        self.moment = parse_time(time)
        self.database, self.port = database, port
        self.version = self._version()
        self.data = DATA / self.version / "main"
        self.unit = f"postgresql@{self.version}-main.service"

    def describe(self) -> str:
        return (
            f"Replace the whole PostgreSQL {self.version} cluster (every database) with its state "
            f"at {self.moment.isoformat(' ')} from the backup host?"
        )

    @staticmethod
    def _version() -> str:
        found = sorted(p.parent.name for p in CLUSTERS.glob("*/main"))
        if len(found) != 1:
            raise OpsError(f"expected one PostgreSQL cluster under {CLUSTERS}, found {found}")
        return found[0]

    def preflight(self) -> None:
        if (
            shutil.which("pgbackrest") is None
            or not Path("/etc/pgbackrest/pgbackrest.conf").is_file()
        ):
            raise OpsError(
                "pgBackRest is not set up on this host: set cogmem_backup_host and deploy first"
            )
        info = _as_postgres("pgbackrest", f"--stanza={STANZA}", "--output=json", "info")
        if info.returncode != 0:
            raise OpsError(f"the backup repository cannot be read: {info.stderr.strip()[-300:]}")
        backups = (json.loads(info.stdout) or [{}])[0].get("backup", [])
        stops = [b["timestamp"]["stop"] for b in backups if not b.get("error")]
        if not stops or min(stops) > self.moment.timestamp():
            first = dt.datetime.fromtimestamp(min(stops), dt.UTC).isoformat(" ") if stops else None
            raise OpsError(
                f"no backup finished before {self.moment.isoformat(' ')}"
                + (f"; the oldest finished at {first}" if first else "")
            )
        if self.moment > dt.datetime.now(dt.UTC):
            raise OpsError(f"{self.moment.isoformat(' ')} is in the future")

    def restore(self, say: Callable[[str], None]) -> dict[str, int]:
        staging = self.data.with_name("main.restoring")
        previous = self.data.with_name(f"main.previous-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        shutil.chown(staging, "postgres", "postgres")
        say(f"restoring the cluster as of {self.moment.isoformat(' ')} into {staging}")
        restored = _as_postgres(
            "pgbackrest", f"--stanza={STANZA}", f"--pg1-path={staging}", "--type=time",
            f"--target={self.moment.isoformat(' ')}", "--target-action=promote",
            # the WAL is fetched once the directory is back in its place, not from the staging one
            f"--recovery-option=restore_command=pgbackrest --stanza={STANZA} archive-get %f \"%p\"",
            "restore",
        )  # fmt: skip
        if restored.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise OpsError(f"pgbackrest restore failed; nothing changed: {restored.stderr[-500:]}")
        say(f"stopping {self.unit}; the live data directory is kept as {previous}")
        subprocess.run(["systemctl", "stop", self.unit], check=True)
        self.data.rename(previous)
        staging.rename(self.data)
        try:
            subprocess.run(["systemctl", "start", self.unit], check=True, timeout=START_TIMEOUT)
            self._wait_promoted()
        except (subprocess.SubprocessError, OpsError) as error:
            say(f"the restored cluster did not come up ({error}); putting the previous one back")
            subprocess.run(["systemctl", "stop", self.unit], check=False, timeout=START_TIMEOUT)
            shutil.rmtree(self.data.with_name("main.failed-restore"), ignore_errors=True)
            self.data.rename(self.data.with_name("main.failed-restore"))
            previous.rename(self.data)
            subprocess.run(["systemctl", "start", self.unit], check=True)
            raise OpsError("point-in-time restore failed; the previous cluster is back") from None
        say(f"recovered to {self.moment.isoformat(' ')} and promoted")
        return self._counts()

    def _psql(self, query: str, database: str = "postgres") -> str:
        result = _as_postgres(
            "psql", "-XAtq", "-p", str(self.port), "-d", database, "-c", query, timeout=60
        )
        if result.returncode != 0:
            raise OpsError(result.stderr.strip()[-300:])
        return result.stdout.strip()

    def _wait_promoted(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._psql("SELECT pg_is_in_recovery()") == "f":
                    return
            except OpsError:
                pass  # still starting
            time.sleep(1)
        raise OpsError(f"recovery did not finish within {timeout:.0f} s")

    def _counts(self) -> dict[str, int]:
        tables = self._psql(
            "SELECT string_agg(format('SELECT %L, count(*) FROM %I', tablename, tablename), "
            "' UNION ALL ') FROM pg_tables WHERE schemaname = 'public'",
            self.database,
        )
        if not tables:
            return {}
        rows = self._psql(tables, self.database).splitlines()
        return {name: int(count) for name, count in (row.split("|") for row in rows)}
