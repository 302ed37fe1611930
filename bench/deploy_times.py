"""Deploy wall times: pyinfra and Ansible, first run on a fresh host and a no-op re-run.

Each tool gets its own fresh throwaway Debian 13 host (booted one after the other, so the tools
do not compete for the cores), the same settings (the demo's, one prebuilt wheel) and the same
connection (root over SSH). Goals (issue 7): first run <= 120 s, no-op <= 10 s (pyinfra) and
<= 30 s (Ansible) on 2 cores. The machine's load average is written next to the figures: on a
shared machine it explains more than the tools do.

    python bench/deploy_times.py      (root, debootstrap, systemd-nspawn; about 6 minutes)
    python bench/deploy_times.py --offsite   each appliance with a backup host (issue 8: keys,
                                             pgBackRest, WAL archiving, the first full backup)
"""

from __future__ import annotations

import argparse
import contextlib
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
    ansible = re.findall(r"changed=(\d+)", output)  # one per host of the recap
    pyinfra = re.search(r"Grand total\s+\S+\s+(\S+)", output)
    if ansible:
        return round(elapsed, 1), sum(map(int, ansible))
    changed = pyinfra.group(1) if pyinfra else "0"
    return round(elapsed, 1), 0 if changed == "-" else int(changed)


def pyinfra_command(host, data: dict, folder: Path, backup=None) -> list[str]:
    address, connection = host.pyinfra_host_data()
    inventory = folder / "pyinfra_inventory.py"
    text = f"hosts = [({address!r}, { ({**connection, **data})!r})]\n"
    if backup:
        _, theirs = backup.pyinfra_host_data()
        text += f"backup_hosts = [({backup.name!r}, { ({**theirs, 'ssh_hostname': address})!r})]\n"
    inventory.write_text(text)
    return [sys.executable, "-m", "provisioning", "deploy", str(inventory)]


def ansible_connection(host: testhost.TestHost) -> dict:
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": host.ssh_port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(host.key_path),
        "ansible_ssh_common_args": NO_HOST_KEY_CHECK,
    }


def ansible_command(host, data: dict, folder: Path, backup=None) -> list[str]:
    inventory = folder / "ansible_inventory.yml"
    groups = {"cognitive_memory": {"hosts": {host.name: {**ansible_connection(host), **data}}}}
    if backup:
        groups["backup_hosts"] = {"hosts": {backup.name: ansible_connection(backup)}}
    inventory.write_text(yaml.safe_dump(groups))
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return [str(playbook), "-i", str(inventory), str(REPO / "provisioning/ansible/site.yml")]


def measure(tool: str, wheel: Path, folder: Path, offsite: bool) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        host = stack.enter_context(testhost.throwaway_host(f"7-bench-{tool}"))
        backup = (
            stack.enter_context(testhost.throwaway_host(f"8a2-bench-bk-{tool}"))
            if offsite
            else None
        )
        data = {**demo_data(), **own_ports(host), "cogmem_wheel": str(wheel)}
        if backup:
            data["cogmem_backup_host"] = backup.name
        maker = pyinfra_command if tool == "pyinfra" else ansible_command
        command = maker(host, data, folder, backup)
        load = os.getloadavg()[0]
        first, _ = timed(command)
        noop, changed = timed(command)
        if changed:
            raise SystemExit(f"the second {tool} run changed {changed} things: not a no-op")
        return {"first": first, "noop": noop, "load": round(load, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsite", action="store_true", help="each appliance with a backup host")
    offsite = parser.parse_args().offsite
    folder = Path(tempfile.mkdtemp(prefix="cogmem-bench-deploy-"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(REPO)],
        check=True,
    )
    wheel = next(folder.glob("cognitive_memory-*.whl"))
    goals = {"pyinfra": (120, 10), "ansible": (120, 30)}
    rows = []
    for tool in ("pyinfra", "ansible"):
        figures = measure(tool, wheel, folder, offsite)
        first_goal, noop_goal = goals[tool]
        label = f"{tool} + backup host" if offsite else tool
        rows.append([label, figures["first"], first_goal, figures["noop"], noop_goal,
                     figures["load"]])  # fmt: skip
    columns = ["tool", "first run s", "goal s", "no-op s", "goal s", "load average at start"]
    title = "Deploy wall times: first run on a fresh host, then a no-op re-run"
    if offsite:
        title += ", each with a backup host (pgBackRest, keys, first full backup)"
    results_file.show("Deploy wall times on a fresh throwaway Debian 13 host", columns, rows)
    path = results_file.write(
        "deploy_times_offsite" if offsite else "deploy_times",
        title=title,
        columns=columns,
        rows=rows,
        versions=results_file.versions("pyinfra", "ansible-core", "ansible"),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
