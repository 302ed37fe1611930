"""The dump folder: what a finished dump looks like, and which dumps can be trusted.

A dump `<db>_<UTC stamp>.dump` is finished when its two companions exist:
`.dump.json` (when, which database, row counts taken in the dump's own snapshot) and, written
last, `.dump.sha256` holding the sha256 of both in `sha256sum` format (`sha256sum -c` checks
them by hand). Work in progress
carries a hidden `.partial` name that no listing shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mcp_server.ops.errors import OpsError

PARTIAL = ".partial"


@dataclass(frozen=True)
class Dump:
    path: Path

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    @property
    def sealed(self) -> bool:
        """Finished by the backup (the checksum is written last); says nothing of its bytes."""
        return self.checksum_path.is_file()

    def manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def created(self) -> dt.datetime:
        stamp = self.manifest().get("created_at")
        if stamp:
            return dt.datetime.fromisoformat(stamp)
        return dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.UTC)

    def expected_checksums(self) -> dict[str, str]:
        """{"dump": hex, "manifest": hex} from the .sha256 file (the manifest line may be absent
        in dumps sealed before manifests were covered)."""
        try:
            lines = [line.split() for line in self.checksum_path.read_text().splitlines() if line]
        except OSError:
            lines = []
        found = {("manifest" if name.endswith(".json") else "dump"): digest
                 for digest, name in (line for line in lines if len(line) == 2)}  # fmt: skip
        if "dump" not in found:
            raise OpsError(
                f"{self.path} has no checksum file {self.checksum_path.name}: an unfinished "
                "or foreign dump, not restored"
            )
        return found


def stamp(now: dt.datetime) -> str:
    """UTC, sortable, with milliseconds: two backups in one second get two names."""
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(dump: Dump) -> None:
    """Raise unless the dump's bytes (and its manifest's) are exactly the ones the backup sealed."""
    expected = dump.expected_checksums()
    if not dump.path.is_file():
        raise OpsError(f"{dump.path} does not exist")
    actual = sha256_of(dump.path)
    if actual != expected["dump"]:
        raise OpsError(
            f"{dump.path} does not match its checksum (sha256 {actual[:12]}…, expected "
            f"{expected['dump'][:12]}…): the file is damaged or incomplete; use an older dump"
        )
    manifest = expected.get("manifest")
    if manifest and dump.manifest_path.is_file() and sha256_of(dump.manifest_path) != manifest:
        raise OpsError(
            f"{dump.manifest_path} does not match its checksum: the row counts it holds "
            "cannot be trusted; use an older dump"
        )


def listing(directory: Path, database: str) -> list[Dump]:
    """Every dump of `database` in `directory`, newest first (finished or not)."""
    found = [Dump(p) for p in directory.glob(f"{database}_*.dump") if p.is_file()]
    return sorted(found, key=lambda d: d.path.name, reverse=True)


def newest_sealed(directory: Path, database: str) -> Dump | None:
    """The newest finished dump, whether or not its bytes still match (the one to test)."""
    return next((d for d in listing(directory, database) if d.sealed), None)


@dataclass(frozen=True)
class Health:
    newest_good: Dump | None
    damaged: list[Dump]  # finished dumps newer than the newest good one, whose bytes changed
    age_hours: float | None  # of the newest good one

    def problems(self, max_age_hours: float) -> list[str]:
        found = [f"{d.path} is DAMAGED (its sha256 does not match)" for d in self.damaged]
        if self.newest_good is None:
            found.append("there is no good backup")
        elif self.age_hours >= max_age_hours:
            found.append(f"the newest good backup is {self.age_hours:.1f} h old "
                         f"(limit {max_age_hours:g} h): {self.newest_good.path}")  # fmt: skip
        return found


def health(directory: Path, database: str, now: dt.datetime | None = None) -> Health:
    now = now or dt.datetime.now(dt.UTC)
    damaged = []
    for dump in (d for d in listing(directory, database) if d.sealed):
        try:
            verify(dump)
        except OpsError:
            damaged.append(dump)
            continue
        return Health(dump, damaged, (now - dump.created).total_seconds() / 3600)
    return Health(None, damaged, None)


def newest_good(directory: Path, database: str) -> Dump | None:
    """The newest dump whose checksum holds (damaged newer ones are skipped)."""
    for dump in listing(directory, database):
        if not dump.sealed:
            continue
        try:
            verify(dump)
        except OpsError:
            continue
        return dump
    return None


def write_atomically(path: Path, text: str) -> None:
    """Write under a partial name, flush to disk, then rename: never a half file at `path`."""
    partial = path.with_name(f".{path.name}{PARTIAL}")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def seal(dump_partial: Path, final: Dump, manifest: dict) -> None:
    """Move a verified dump into place; its checksum file goes last and marks it finished."""
    with dump_partial.open("rb") as handle:
        os.fsync(handle.fileno())
    dump_partial.replace(final.path)
    write_atomically(final.manifest_path, json.dumps(manifest, indent=2) + "\n")
    lines = [f"{manifest['sha256']}  {final.path.name}",
             f"{sha256_of(final.manifest_path)}  {final.manifest_path.name}"]  # fmt: skip
    write_atomically(final.checksum_path, "\n".join(lines) + "\n")
    fsync_directory(final.path.parent)


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def discard(dump: Dump) -> None:
    for path in (dump.checksum_path, dump.manifest_path, dump.path):
        path.unlink(missing_ok=True)


def prune(directory: Path, database: str, keep_days: int, keep: Dump, now: dt.datetime):
    """Delete dumps older than `keep_days`, never `keep` (the newest good one). Yields paths."""
    cutoff = now - dt.timedelta(days=keep_days)
    for dump in listing(directory, database):
        if dump.path != keep.path and dump.created < cutoff:
            discard(dump)
            yield dump.path
