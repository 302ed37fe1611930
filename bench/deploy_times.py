"""Deploy wall times: pyinfra and Ansible, first run on a fresh host and a no-op re-run.

Each tool gets its own fresh throwaway Debian 13 host (booted one after the other, so the tools
do not compete for the cores), the same settings (the demo's, one prebuilt wheel) and the same
connection (root over SSH). Goals (issue 7): first run <= 120 s, no-op <= 10 s (pyinfra) and
<= 30 s (Ansible) on 2 cores. The machine's load average is written next to the figures: on a
shared machine it explains more than the tools do.

    python bench/deploy_times.py      (root, debootstrap, systemd-nspawn; about 6 minutes)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import results_file  # noqa: E402
from provisioning import testhost  # noqa: E402
from provisioning.inventories import demo_data, own_ports  # noqa: E402

NO_HOST_KEY_CHECK = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def timed(command: list[str]) -> tuple[float, int]:
    """(wall seconds, changes the tool reported)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANSIBLE_NOCOLOR": "1"}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{output[-4000:]}")
    ansible = re.search(r"changed=(\d+)", output)
    pyinfra = re.search(r"Grand total\s+\S+\s+(\S+)", output)
    changed = ansible.group(1) if ansible else (pyinfra.group(1) if pyinfra else "0")
    return round(elapsed, 1), 0 if changed == "-" else int(changed)


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
        first, _ = timed(command)
        noop, changed = timed(command)
        if changed:
            raise SystemExit(f"the second {tool} run changed {changed} things: not a no-op")
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
    results_file.show("Deploy wall times on a fresh throwaway Debian 13 host", columns, rows)
    path = results_file.write(
        "deploy_times",
        title="Deploy wall times: first run on a fresh host, then a no-op re-run",
        columns=columns,
        rows=rows,
        versions=results_file.versions("pyinfra", "ansible-core", "ansible"),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
