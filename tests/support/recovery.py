"""Throwaway appliances with a backup host, for the off-host recovery e2e and bench/recovery.py.

Hosts boot in parallel; the inventory holds the appliance in `hosts` and the backup host in
`backup_hosts`, deployed by the user's own command (`python -m provisioning deploy`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from provisioning import plan as planning
from provisioning import testhost
from provisioning.inventories import demo_data, testhost_entry
from provisioning.settings import resolve

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Appliance:
    host: testhost.TestHost
    inventory: Path
    settings: dict

    def sh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.host.run("cd / && " + command, timeout=timeout)

    def as_user(self, user: str, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.sh(shlex.join(["runuser", "-u", user, "--", *argv]), timeout=timeout)

    def query(self, sql: str, timeout: float = 300) -> str:
        psql = [
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-p",
            str(self.settings["postgresql_port"]),
        ]
        database = self.settings["cogmem_db_name"]
        result = self.as_user("postgres", *psql, "-d", database, "-c", sql, timeout=timeout)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def call(self, tool: str, arguments: dict) -> dict:
        """A tool call through the running service: HTTP with the token, the app's own client."""
        s = self.settings
        url = f"http://{s['cogmem_http_host']}:{s['cogmem_http_port']}/mcp"
        prefix = s["cogmem_prefix"]
        result = self.as_user(
            s["cogmem_user"], "env", "ENVIRONMENT=production", f"COGMEM_CONFIG_DIR={prefix}/config",
            "COGMEM_LOG_LEVEL=WARNING", f"{prefix}/venv/bin/cognitive-memory", "call", tool,
            "--json-args", json.dumps(arguments), "--url", url,
        )  # fmt: skip
        assert result.returncode == 0, f"{tool}: {result.stderr[-2000:]}"
        return json.loads(result.stdout)

    def pgbackrest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.as_user(
            "postgres", "pgbackrest", "--stanza=cognitive-memory", *args, timeout=timeout
        )


def run(command: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COGMEM_SECRETS_FILE"):
        env.pop(name, None)  # the demo settings need no key; the deployer's keys stay out
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def boot_all(*names: str) -> list[testhost.TestHost]:
    """Boot hosts in parallel; if one fails, the others are torn down again."""
    with ThreadPoolExecutor(len(names)) as pool:
        futures = [pool.submit(testhost.boot, name) for name in names]
    hosts, errors = [], []
    for future in futures:
        try:
            hosts.append(future.result())
        except Exception as error:  # reported after the others are torn down
            errors.append(error)
    if errors:
        teardown_all(hosts)
        raise errors[0]
    return hosts


def teardown_all(hosts) -> None:
    with ThreadPoolExecutor(max(1, len(hosts))) as pool:
        list(pool.map(testhost.teardown, hosts))


def build_wheel(folder: Path) -> Path:
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), "."])
    assert built.returncode == 0, built.stderr
    return next(folder.glob("cognitive_memory-*.whl"))


def appliance(
    folder: Path, host: testhost.TestHost, backup: testhost.TestHost, **extra
) -> Appliance:
    """An inventory file with `host` as the appliance and `backup` as its backup host."""
    data = {**demo_data(), "cogmem_backup_host": backup.name, **extra}
    path = folder / f"{host.name}.py"
    path.write_text(
        "from provisioning.inventories import demo_data, testhost_entry\n\n"
        f"hosts = [testhost_entry({host.name!r}, extra={data!r})]\n"
        f"backup_hosts = [testhost_entry({backup.name!r})]\n"
    )
    _, host_data = testhost_entry(host.name, extra=data)
    return Appliance(host, path, resolve(host_data))


def deploy(target: Appliance) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "provisioning", "deploy", str(target.inventory)])


def grand_total(output: str) -> dict[str, int]:
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, output[-3000:]
    numbers = [0 if value == "-" else int(value) for value in match.groups()]
    return dict(zip(("operations", "changed", "errors", "unchanged"), numbers, strict=True))


def checklist(target: Appliance, junit: Path) -> subprocess.CompletedProcess:
    host = target.host
    return run(
        [
            sys.executable, "-m", "provisioning.checklist", f"--hosts={host.ssh_url}",
            f"--ssh-config={host.ssh_config_path}", f"--junitxml={junit}",
            *planning.checklist_data(target.settings),
        ]
    )  # fmt: skip


def cron_line(target: Appliance, tag: str) -> tuple[str, str, dict[str, str]]:
    """(user, command, environment) of the job in /etc/cron.d/cognitive-memory tagged `tag`."""
    text = (target.host.root / "etc/cron.d/cognitive-memory").read_text()
    environ = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z_]+=", line))
    for line in text.splitlines():
        fields = line.split(None, 6)
        if len(fields) == 7 and not line.startswith("#") and f" -t {tag} " in line:
            return fields[5], fields[6], environ
    raise AssertionError(f"no cron job tagged {tag} in:\n{text}")


def run_cron_job(target: Appliance, tag: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a cron line once as cron would: its user, only the cron file's environment, sh -c."""
    user, command, environ = cron_line(target, tag)
    env = [f"{k}={v}" for k, v in environ.items()] + ["HOME=/", f"LOGNAME={user}"]
    # systemd-cat sends the output to the journal, as cron would; read it back from there
    argv = ["runuser", "-u", user, "--", "env", "-i", *env, "/bin/sh", "-c", command]
    return target.sh(shlex.join(argv), timeout=timeout)


def journal(target: Appliance, tag: str, lines: int = 20) -> str:
    return target.sh(f"journalctl -t {shlex.quote(tag)} -n {lines} --no-pager -o cat").stdout
