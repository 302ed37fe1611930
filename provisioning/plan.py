"""What the deploy knows before it changes anything, and what it tells the user at the end.

`prepare()` runs first in provisioning/deploy.py, on the control machine and through facts
only: it checks the settings, the host's release, the deployer's secrets, and builds the wheel.
Any problem stops the deploy here, before an operation exists.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback
from pyinfra.facts.server import LinuxDistribution

from provisioning import settings as config
from provisioning.deployed import recorded
from provisioning.facts import HostSecrets
from provisioning.operations import quiet_fact
from provisioning.settings import REPO, SettingsError

UNIT = "cognitive-memory-mcp.service"
NO_HOST_KEY_CHECK = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
_MIGRATION = re.compile(r"^mcp_server/migrations/(\d{3})_[a-z0-9_]+\.sql$")


@dataclass
class Plan:
    settings: dict[str, Any]
    deployer_secrets: dict[str, str]
    wheel: Path
    version: str
    migrations: list[int]
    missing_keys: list[str] = field(default_factory=list)  # placeholders in production
    missing_required: list[str] = field(default_factory=list)  # the server needs these
    missing_scripts: list[str] = field(default_factory=list)

    @property
    def startable(self) -> bool:
        return not self.missing_required


# --- the wheel ---------------------------------------------------------------------------------

_built: dict[str, Path] = {}


def build_wheel() -> Path:
    """Build the app's wheel from this checkout once per run (py3-none-any, reproducible)."""
    if "wheel" not in _built:
        out = Path(tempfile.mkdtemp(prefix="cogmem-wheel-"))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(out),
                str(REPO),
            ],
            capture_output=True,
            text=True,
        )
        wheels = list(out.glob("cognitive_memory-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise PyinfraError(f"building the wheel failed:\n{result.stderr[-2000:]}")
        _built["wheel"] = wheels[0]
    return _built["wheel"]


def wheel_contents(wheel: Path) -> tuple[str, list[int]]:
    """(version, migration versions) of a wheel."""
    match = re.match(r"^cognitive_memory-([^-]+)-", wheel.name)
    if not match:
        raise SettingsError(f"{wheel} is not a cognitive-memory wheel")
    with zipfile.ZipFile(wheel) as archive:
        versions = sorted(
            int(m.group(1)) for name in archive.namelist() if (m := _MIGRATION.match(name))
        )
    if not versions:
        raise SettingsError(f"{wheel} carries no migrations (mcp_server/migrations/*.sql)")
    return match.group(1), versions


# --- before anything changes -------------------------------------------------------------------


def prepare() -> Plan:
    """Check everything that can be checked before a change; raise a one-line error otherwise."""
    try:
        s = config.resolve(host.data.dict(), source=f"host data of {host.name}")
        config.check_distribution(s, host.get_fact(LinuxDistribution), f"host {host.name}")
        deployer = config.deployer_secrets(s)
        wheel = Path(s["cogmem_wheel"]) if s["cogmem_wheel"] else build_wheel()
        version, migrations = wheel_contents(wheel)
    except SettingsError as error:
        raise PyinfraError(str(error)) from None
    plan = Plan(s, deployer, wheel, version, migrations)
    _find_missing_keys(plan)
    _announce(plan)
    _register_summary()
    return plan


def _find_missing_keys(plan: Plan) -> None:
    on_host = quiet_fact(HostSecrets, config_dir=f"{plan.settings['cogmem_prefix']}/config")
    production = on_host["production"]
    given = {
        name
        for name in config.API_KEY_PLACEHOLDERS
        if name in plan.deployer_secrets or not config.is_placeholder(production.get(name))
    }
    plan.missing_keys = sorted(set(config.API_KEY_PLACEHOLDERS) - given)
    plan.missing_required = [k for k in config.required_keys(plan.settings) if k not in given]


def _announce(plan: Plan) -> None:
    s = plan.settings
    logger.info(
        f"{host.print_prefix}cognitive-memory {plan.version} ({plan.wheel.name}), "
        f"PostgreSQL {s['postgresql_version']} ({s['postgresql_package_source']}), "
        f"embeddings: {s['cogmem_embedding_provider']}"
    )
    if plan.missing_keys:
        logger.warning(
            f"{host.print_prefix}not given, written as placeholders: "
            f"{', '.join(plan.missing_keys)} (set them in the environment or "
            f"{config.secrets_file_path(s)})"
        )
    if plan.missing_required:
        logger.warning(
            f"{host.print_prefix}this configuration needs {', '.join(plan.missing_required)}: "
            f"{UNIT} is enabled but not started until they are set"
        )


# --- after the run -----------------------------------------------------------------------------

_plans: dict[str, Plan] = {}


def remember(plan: Plan) -> None:
    _plans[host.name] = plan


class _NextSteps(BaseStateCallback):
    @staticmethod
    def host_disconnect(state, host):
        plan = _plans.pop(host.name, None)
        results, planned = state.get_results_for_host(host), state.get_meta_for_host(host)
        if plan is None or host in state.failed_hosts or not state.is_executing:
            return
        if results.error_ops or results.ops < planned.ops:
            return  # a failed or unfinished run: pyinfra has said why
        print(next_steps(host.name, host.data.dict(), plan), flush=True)


def _register_summary() -> None:
    if not any(isinstance(h, _NextSteps) for h in state.callback_handlers):
        state.add_callback_handler(_NextSteps())


def ssh_command(name: str, data: dict[str, Any]) -> list[str]:
    """How the user reaches this host with ssh, from the inventory's connection data."""
    if data.get("ssh_config_file"):
        return ["ssh", "-F", str(data["ssh_config_file"]), name]
    command = ["ssh"]
    if data.get("ssh_port"):
        command += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        command += ["-i", str(data["ssh_key"])]
    if str(data.get("ssh_strict_host_key_checking", "")).lower() == "no":
        command += NO_HOST_KEY_CHECK
    hostname = data.get("ssh_hostname") or name
    user = data.get("ssh_user")
    command.append(f"{user}@{hostname}" if user else hostname)
    return command


def checklist_data(s: dict[str, Any]) -> list[str]:
    """--data arguments for every recorded setting that differs from provisioning/defaults.yml
    (the checklist reads them from the host's deployed.json; these override it)."""
    changed = [k for k, v in recorded(s).items() if config.DEFAULTS.get(k) != v]
    return [f"--data={k}={str(s[k]).lower() if isinstance(s[k], bool) else s[k]}" for k in changed]


def checklist_command(name: str, data: dict[str, Any], s: dict[str, Any]) -> list[str]:
    # `cognitive-memory checklist` where the CLI is installed, else the module itself
    cli = shutil.which("cognitive-memory")
    entry = [cli, "checklist"] if cli else [sys.executable, "-m", "provisioning.checklist"]
    module = entry  # the expected settings come from the host's deployed.json
    if name == "@local":
        return [*module, "--hosts=local://"]
    if data.get("ssh_config_file"):
        sudo = ["--sudo"] if data.get("ssh_user", "root") != "root" else []
        return [*module, f"--hosts=ssh://{name}", f"--ssh-config={data['ssh_config_file']}", *sudo]
    hostname = data.get("ssh_hostname") or name
    user = f"{data['ssh_user']}@" if data.get("ssh_user") else ""
    port = f":{data['ssh_port']}" if data.get("ssh_port") else ""
    command = [*module, f"--hosts=ssh://{user}{hostname}{port}"]
    if data.get("ssh_user", "root") != "root":
        command.append("--sudo")  # the checks read root-only files and run as other users
    if data.get("ssh_key"):
        command.append(f"--ssh-identity-file={data['ssh_key']}")
    if str(data.get("ssh_strict_host_key_checking", "")).lower() == "no":
        command.append(
            "--ssh-extra-args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        )
    return command


def next_steps(name: str, data: dict[str, Any], plan: Plan) -> str:
    """The `claude mcp add` lines for this host and the checklist command; never the token."""
    s = plan.settings
    port, prefix, user = s["cogmem_http_port"], s["cogmem_prefix"], s["cogmem_user"]
    env_file = f"{prefix}/config/.env.production"
    this_machine = name == "@local"
    ssh = [] if this_machine else ssh_command(name, data)
    read_token = shlex.join([*ssh, "grep", "-m1", "^MCP_HTTP_TOKEN=", env_file])
    read_token += " | cut -d'\"' -f2"
    local = this_machine or (data.get("ssh_hostname") or name) in ("127.0.0.1", "localhost", "::1")
    as_root = this_machine or data.get("ssh_user", "root") == "root"
    as_user = ["runuser", "-u", user, "--"] if as_root else ["sudo", "-u", user]
    serve = [
        *as_user, "env", "ENVIRONMENT=production", f"COGMEM_CONFIG_DIR={prefix}/config",
        f"{prefix}/venv/bin/cognitive-memory", "serve",
    ]  # fmt: skip
    stdio = serve if this_machine else [*ssh[:-1], "-T", ssh[-1], *serve]
    tunnel = (
        [] if local else [*ssh[:-1], "-N", "-L", f"{port}:{s['cogmem_http_host']}:{port}", ssh[-1]]
    )
    lines = [
        "",
        f"--> Cognitive Memory is deployed on {name}. Next steps:",
        "",
        *(
            ["  1. The server is on this machine's loopback: no tunnel needed."]
            if local
            else [
                "  1. Open a tunnel to the server (keep it running):",
                f"       {shlex.join(tunnel)}",
            ]
        ),
        "  2. Read the token on the host into your shell (it is never printed by the deploy):",
        f'       export COGMEM_TOKEN="$({read_token})"',
        "  3. Register it in Claude Code:",
        f"       claude mcp add --transport http cognitive-memory http://127.0.0.1:{port}/mcp "
        "--header 'Authorization: Bearer ${COGMEM_TOKEN}'",
        "     or, without tunnel and token, stdio" + ("" if this_machine else " over SSH") + ":",
        f"       claude mcp add cognitive-memory -- {shlex.join(stdio)}",
        "  4. Check the host against the production checklist:",
        f"       {shlex.join(checklist_command(name, data, s))}",
    ]
    if plan.missing_required:
        lines += [
            "",
            f"  The server waits for {', '.join(plan.missing_required)}: set them in {env_file}",
            "  on the host (or give them to the deploy and re-run it), then:",
            f"  systemctl restart {UNIT}",
        ]
    elif plan.missing_keys:
        lines += [
            "",
            f"  Placeholders (not needed by this configuration): {', '.join(plan.missing_keys)}",
        ]
    if plan.missing_scripts:
        lines += ["", f"  Not in this checkout, not installed: {', '.join(plan.missing_scripts)}"]
    return "\n".join(lines) + "\n"
