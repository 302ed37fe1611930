"""`cognitive-memory restore`: the steps every restore shares, and restoring a dump.

A restore method knows how to bring a database back (a dump here; a point in time with
pgBackRest can be another method). The driver does what is common: check before anything
changes, ask, stop the service, restore, start the service again whatever happened, and say
what it did. A method must leave the live database untouched when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mcp_server.ops import dumps, scratch
from mcp_server.ops.dumps import Dump
from mcp_server.ops.errors import OpsError

UNIT = "cognitive-memory-mcp.service"
Say = Callable[[str], None]


class RestoreMethod(Protocol):
    database: str  # the database it replaces

    def describe(self) -> str:
        """What will be replaced by what, for the confirmation question."""

    def preflight(self) -> None:
        """Refuse (OpsError) before anything changes: a bad file, a missing tool."""

    def restore(self, say: Say) -> dict[str, int]:
        """Bring the database back; return its row counts. On failure the live one is intact."""


@dataclass
class Outcome:
    steps: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


class Service:
    """The systemd unit that holds connections to the database (production, as root only)."""

    def __init__(self, unit: str = UNIT, *, managed: bool):
        self.unit = unit
        self.managed = managed and shutil.which("systemctl") is not None

    def active(self) -> bool:
        if not self.managed:
            return False
        state = subprocess.run(["systemctl", "is-active", "--quiet", self.unit], check=False)
        return state.returncode == 0

    def stop(self) -> None:
        if os.geteuid() != 0:
            raise OpsError(f"{self.unit} is running: run the restore as root so it can stop it")
        subprocess.run(["systemctl", "stop", self.unit], check=True)

    def start(self) -> None:
        subprocess.run(["systemctl", "start", self.unit], check=True)


def perform(
    method: RestoreMethod, *, confirm: Callable[[str], bool], service: Service, say: Say
) -> Outcome:
    outcome = Outcome()

    def step(text: str) -> None:
        outcome.steps.append(text)
        say(text)

    method.preflight()
    if not confirm(method.describe()):
        raise OpsError("not confirmed: nothing changed")
    was_running = service.active()
    if was_running:
        service.stop()
        step(f"stopped {service.unit}")
    try:
        outcome.rows = method.restore(step)
    finally:
        if was_running:
            service.start()
            step(f"started {service.unit}")
    return outcome


class DumpRestore:
    """A dump made by `cognitive-memory backup`, restored beside the live database, then swapped."""

    def __init__(self, dump: Dump, url: str, database: str, *, embedded: bool, migrate):
        self.dump, self.url, self.database = dump, url, database
        self.embedded, self.migrate = embedded, migrate

    def describe(self) -> str:
        made = self.dump.manifest().get("created_at", "unknown time")
        return f"Replace the database {self.database} with {self.dump.path} (taken {made})"

    def preflight(self) -> None:
        dumps.verify(self.dump)

    def restore(self, say: Say) -> dict[str, int]:
        new = self.database + scratch.RESTORING
        rows = scratch.restore_into(self.url, self.dump, new, embedded=self.embedded)
        say(f"restored {self.dump.path.name} into a new database {new}")
        try:
            expected = self.dump.manifest().get("rows")
            if expected:
                scratch.compare_counts(expected, rows)
                say(f"row counts match the dump ({sum(expected.values())} rows in "
                    f"{len(expected)} tables)")  # fmt: skip
            else:
                say(f"no {self.dump.manifest_path.name} beside the dump: row counts not compared")
            applied = self.migrate(scratch.url_of(self.url, new))
            if applied:
                say(f"applied migrations {', '.join(applied)}")
        except BaseException:
            with scratch.admin(self.url, self.database) as conn:
                scratch.drop(conn, new)
            say(f"dropped {new}; {self.database} is unchanged")
            raise
        previous = scratch.swap(self.url, self.database, new)
        say(f"swapped it in as {self.database}; the replaced one is kept as {previous}")
        return rows
