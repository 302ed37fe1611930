"""Deploy wall times: pyinfra and Ansible, first run on a fresh host and a no-op re-run.

Each tool gets its own fresh throwaway Debian 13 host (booted one after the other, so the tools
do not compete for the cores), the same settings (the demo's, one prebuilt wheel) and the same
connection (root over SSH). Goals (issue 7): first run <= 120 s, no-op <= 10 s (pyinfra) and
<= 30 s (Ansible) on 2 cores. The machine's load average is written next to the figures: on a
shared machine it explains more than the tools do.

    python bench/deploy_times.py      (root, debootstrap, systemd-nspawn; about 6 minutes)
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provisioning import testhost  # noqa: E402
from provisioning.inventories import demo_data, own_ports  # noqa: E402

NO_HOST_KEY_CHECK = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def timed(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANSIBLE_NOCOLOR": "1"}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return round(elapsed, 1)


def pyinfra_command(host: testhost.TestHost, data: dict, folder: Path) -> list[str]:
    address, connection = host.pyinfra_host_data()
    inventory = folder / "pyinfra_inventory.py"
    inventory.write_text(f"hosts = [({address!r}, { ({**connection, **data})!r})]\n")
    return [sys.executable, "-m", "provisioning", "deploy", str(inventory)]


def ansible_command(host: testhost.TestHost, data: dict, folder: Path) -> list[str]:
    connection = {
        "ansible_host": "127.0.0.1",
        "ansible_port": host.ssh_port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(host.key_path),
        "ansible_ssh_common_args": NO_HOST_KEY_CHECK,
    }
    inventory = folder / "ansible_inventory.yml"
    hosts = {host.name: {**connection, **data}}
    inventory.write_text(yaml.safe_dump({"cognitive_memory": {"hosts": hosts}}))
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return [str(playbook), "-i", str(inventory), str(REPO / "provisioning/ansible/site.yml")]


def measure(tool: str, wheel: Path, folder: Path) -> dict[str, float]:
    with testhost.throwaway_host(f"7-bench-{tool}") as host:
        data = {**demo_data(), **own_ports(host), "cogmem_wheel": str(wheel)}
        maker = pyinfra_command if tool == "pyinfra" else ansible_command
        command = maker(host, data, folder)
        load = os.getloadavg()[0]
        first = timed(command)
        noop = timed(command)
        return {"first": first, "noop": noop, "load": round(load, 1)}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="cogmem-bench-deploy-"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(REPO)],
        check=True,
    )
    wheel = next(folder.glob("cognitive_memory-*.whl"))
    goals = {"pyinfra": (120, 10), "ansible": (120, 30)}
    rows = []
    for tool in ("pyinfra", "ansible"):
        figures = measure(tool, wheel, folder)
        first_goal, noop_goal = goals[tool]
        rows.append([tool, figures["first"], first_goal, figures["noop"], noop_goal,
                     figures["load"]])  # fmt: skip
    columns = ["tool", "first run s", "goal s", "no-op s", "goal s", "load average at start"]
    table = Table(title="Deploy wall times on a fresh throwaway Debian 13 host")
    for column in columns:
        table.add_column(column, justify="left" if column == "tool" else "right")
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)
    report = {
        "title": "Deploy wall times: first run on a fresh host, then a no-op re-run",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "date": datetime.date.today().isoformat(),
        "versions": {name: version(name) for name in ("pyinfra", "ansible-core", "ansible")},
        "columns": columns,
        "rows": rows,
        "command": "python bench/deploy_times.py",
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "deploy_times.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
