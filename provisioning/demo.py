"""The whole appliance on a throwaway Debian 13 host on this machine, in one command.

    python -m provisioning.demo [--keep] [--name NAME]

Boots a fresh host (systemd-nspawn; the image is built once and cached), deploys with the
user's own command (`python -m provisioning deploy inventory/local_testhost.py`), runs the
production checklist, and removes the host again unless --keep. Needs root, debootstrap and
systemd-container. The demo embeds with `hashing` (no API key needed; a demo setting).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from provisioning import plan as planning
from provisioning import testhost
from provisioning.inventories import demo_data, testhost_entry
from provisioning.settings import REPO, resolve

INVENTORY = REPO / "inventory" / "local_testhost.py"


def _run(command: list[str], name: str) -> tuple[int, float]:
    env = {**os.environ, "COGMEM_TESTHOST": name, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    code = subprocess.run(command, cwd=REPO, env=env).returncode
    return code, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the host running afterwards")
    parser.add_argument("--name", help="host name (default: a random cogmem-XXXXXX)")
    args = parser.parse_args(argv)
    try:
        testhost.check_requirements()
        print("--> Booting a fresh Debian 13 host (the first run builds the image, ~1 min)")
        started = time.monotonic()
        host = testhost.boot(args.name)
    except testhost.TestHostError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    times = {"boot": time.monotonic() - started}
    code = 1
    try:
        print(f"--> {host.name} is up; deploying: python -m provisioning deploy {INVENTORY.name}")
        deploy = [sys.executable, "-m", "provisioning", "deploy", str(INVENTORY)]
        code, times["deploy"] = _run(deploy, host.name)
        name, data = testhost_entry(host.name, extra=demo_data())
        settings = resolve(data)
        if code == 0:
            checklist = [
                sys.executable, "-m", "provisioning.checklist", *planning.checklist_data(settings),
                f"--hosts={host.ssh_url}", f"--ssh-config={host.ssh_config_path}",
            ]  # fmt: skip
            print(f"--> Running the production checklist against {host.name}")
            code, times["checklist"] = _run(checklist, host.name)
        summary = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in times.items())
        print(f"--> {'Done' if code == 0 else 'FAILED'}: {summary}")
    finally:
        if args.keep and code == 0:
            steps = planning.next_steps(name, data, planning.Plan(settings, {}, None, "", []))
            print(steps.replace("is deployed on", "stays up on"))
        if args.keep:
            print(
                f"--> {host.name} keeps running. Shell: ssh -F {host.ssh_config_path} {host.name}\n"
                f"    Re-deploy: COGMEM_TESTHOST={host.name} python -m provisioning deploy "
                f"{INVENTORY.relative_to(REPO)}\n"
                f"    Remove it: python -m provisioning.testhost down --name {host.name}"
            )
        else:
            testhost.teardown(host)
            print(f"--> {host.name} removed (keep it next time with --keep)")
    return code


if __name__ == "__main__":
    sys.exit(main())
