"""Deploy the appliance with pyinfra, after checks that need no connection.

    python -m provisioning deploy INVENTORY [--data KEY=VALUE ...] [-- more pyinfra options]
    python -m provisioning check INVENTORY [--data KEY=VALUE ...]

`check` reads the inventory and every host's settings (provisioning/defaults.yml overridden by
host data and --data) and stops at the first problem; `deploy` does the same, then runs
`pyinfra -y INVENTORY provisioning/deploy.py`, which checks the host's release and reachability
before it changes anything.
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
from pathlib import Path

from provisioning.settings import REPO, SettingsError, resolve

DEPLOY_FILE = REPO / "provisioning" / "deploy.py"
EXAMPLES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "inventory").glob("*.py"))


class UsageError(Exception):
    pass


def parse_data(items: list[str]) -> dict[str, str]:
    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data {item!r}: use KEY=VALUE")
        data[key.strip()] = value
    return data


def _module_data(path: Path) -> dict:
    values = runpy.run_path(str(path))
    return {k: v for k, v in values.items() if not k.startswith("_") and k.islower()}


def load_inventory(path: Path) -> dict[str, dict]:
    """{host name: data} the way pyinfra builds it: group_data/all.py, group_data/<group>.py,
    then the host's own data (a later source wins)."""
    sys.path.insert(0, str(REPO))
    try:
        module = runpy.run_path(str(path))
    except SystemExit as error:  # an inventory helper refusing (e.g. no throwaway host running)
        raise UsageError(f"{path}: {error}") from None
    except Exception as error:
        raise UsageError(f"{path} does not load: {type(error).__name__}: {error}") from None
    group_dir = path.parent / "group_data"
    common = _module_data(group_dir / "all.py") if (group_dir / "all.py").is_file() else {}
    hosts: dict[str, dict] = {}
    for group, entries in module.items():
        if group.startswith("_") or not isinstance(entries, list | tuple):
            continue
        group_file = group_dir / f"{group}.py"
        group_data = _module_data(group_file) if group_file.is_file() else {}
        for entry in entries:
            name, data = (entry, {}) if isinstance(entry, str) else (entry[0], dict(entry[1]))
            hosts[name] = {**common, **hosts.get(name, {}), **group_data, **data}
    return hosts


def check_inventory(inventory: str, data: dict[str, str]) -> list[str]:
    """Check each host's settings (defaults, group and host data, --data); return host names."""
    path = Path(inventory)
    if not path.is_file():
        raise UsageError(
            f"inventory file not found: {inventory}"
            + (f" (examples: {', '.join(EXAMPLES)})" if EXAMPLES else "")
        )
    hosts = load_inventory(path.resolve())
    if not hosts:
        raise UsageError(f"{inventory} defines no hosts (a list named `hosts`, for example)")
    for name, host_data in hosts.items():
        resolve({**host_data, **data}, source=f"{inventory}, host {name}")
    return list(hosts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning", description=__doc__)
    parser.add_argument("action", choices=["deploy", "check"])
    parser.add_argument("inventory", help="a pyinfra inventory file, e.g. inventory/example_ssh.py")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("pyinfra_args", nargs="*", help="more pyinfra options, after --")
    args = parser.parse_args(argv)
    try:
        data = parse_data(args.data)
        names = check_inventory(args.inventory, data)
    except (UsageError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was changed on any host", file=sys.stderr)
        return 2
    if args.action == "check":
        print(f"settings are valid for {', '.join(names)}")
        return 0
    command = [sys.executable, "-m", "pyinfra", "-y", str(Path(args.inventory).resolve())]
    command += [str(DEPLOY_FILE), *(f"--data={k}={v}" for k, v in data.items())]
    command += args.pyinfra_args
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(command, cwd=REPO, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
