"""A deployed throwaway host for the e2e tests: deploy, checklist, commands on the host.

Shared by tests/e2e/test_deploy.py and the other e2e modules that need a deployed appliance
(tests/e2e/conftest.py holds the one session-wide host).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from provisioning import plan as planning
from provisioning import testhost

REPO = Path(__file__).resolve().parents[2]
UNIT = "cognitive-memory-mcp.service"
# Shortened so the watchdog fault finishes quickly; the restart delay is the default's.
FAULT_SETTINGS = {"cogmem_watchdog_sec": 10, "cogmem_restart_sec": 2}
TIMES: dict[str, float] = {}


@dataclass
class Deployment:
    host: testhost.TestHost
    inventory: Path
    settings: dict
    outputs: list[str] = field(default_factory=list)


def run(command: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COGMEM_SECRETS_FILE"):
        env.pop(name, None)  # the demo runs on placeholders; the deployer's keys stay out
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def write_inventory(folder: Path, name: str, extra: dict) -> Path:
    path = folder / f"{name}.py"
    path.write_text(
        "from provisioning.inventories import demo_data, testhost_entry\n\n"
        f"hosts = [testhost_entry({name!r}, extra={{**demo_data(), **{extra!r}}})]\n"
    )
    return path


def deploy(inventory: Path, *data: str) -> subprocess.CompletedProcess:
    args = [f"--data={item}" for item in data]
    return run([sys.executable, "-m", "provisioning", "deploy", str(inventory), *args])


def checklist(deployment: Deployment, *pytest_args: str) -> subprocess.CompletedProcess:
    host = deployment.host
    junit = REPO / "reports" / f"checklist-e2e-{host.name}.xml"
    return run(
        [
            sys.executable, "-m", "provisioning.checklist",
            f"--hosts={host.ssh_url}", f"--ssh-config={host.ssh_config_path}",
            f"--junitxml={junit}", *planning.checklist_data(deployment.settings),
            *(["--", *pytest_args] if pytest_args else []),
        ]
    )  # fmt: skip


def journal(host: testhost.TestHost) -> str:
    return host.run(f"journalctl -u {UNIT} -n 40 --no-pager").stdout


def as_service_user(deployment: Deployment, *argv: str) -> subprocess.CompletedProcess:
    s = deployment.settings
    command = [
        "runuser", "-u", s["cogmem_user"], "--", "env", "ENVIRONMENT=production",
        f"COGMEM_CONFIG_DIR={s['cogmem_prefix']}/config", "COGMEM_LOG_LEVEL=WARNING",
        f"PATH={s['cogmem_prefix']}/venv/bin:/usr/bin:/bin", *argv,
    ]  # fmt: skip
    return deployment.host.run("cd / && " + shlex.join(command), timeout=120)


def call(deployment: Deployment, tool: str, arguments: dict | None = None) -> dict | None:
    """A tool call through the service: HTTP with the token, the app's own MCP client."""
    s = deployment.settings
    url = f"http://{s['cogmem_http_host']}:{s['cogmem_http_port']}/mcp"
    cli = f"{s['cogmem_prefix']}/venv/bin/cognitive-memory"
    args = ["call", tool, "--json-args", json.dumps(arguments or {}), "--url", url]
    result = as_service_user(deployment, cli, *args)
    return json.loads(result.stdout) if result.returncode == 0 else None


def ping(deployment: Deployment) -> dict | None:
    return call(deployment, "ping")


def production_query(deployment: Deployment, query: str) -> str:
    s = deployment.settings
    psql = [
        "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-p", str(s["postgresql_port"]),
        "-d", s["cogmem_db_name"], "-c", query,
    ]  # fmt: skip
    return deployment.host.run("cd / && " + shlex.join(psql), check=True).stdout.strip()
