"""What a deploy tells the user at the end: how to reach the server and check the host.

Shared by both deploy tools (pyinfra's run summary, the Ansible role's last task); it prints
how to read the token on the host, never the token.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from typing import Any

from provisioning.deployed import recorded
from provisioning.settings import DEFAULTS

UNIT = "cognitive-memory-mcp.service"
NO_HOST_KEY_CHECK = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


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
    changed = [k for k, v in recorded(s).items() if DEFAULTS.get(k) != v]
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


def next_steps(name: str, data: dict[str, Any], plan) -> str:
    """The `claude mcp add` lines for this host and the checklist command; never the token.

    `plan`: anything with settings, missing_required, missing_keys and missing_scripts.
    """
    s = plan.settings
    port, prefix, user = s["cogmem_http_port"], s["cogmem_prefix"], s["cogmem_user"]
    env_file = f"{prefix}/config/.env.production"
    this_machine = name == "@local"
    ssh = [] if this_machine else ssh_command(name, data)
    as_root = this_machine or data.get("ssh_user", "root") == "root"
    sudo = [] if as_root else ["sudo"]  # the env file is the service user's alone
    read_token = shlex.join([*ssh, *sudo, "grep", "-m1", "^MCP_HTTP_TOKEN=", env_file])
    read_token += " | cut -d'\"' -f2"
    local = this_machine or (data.get("ssh_hostname") or name) in ("127.0.0.1", "localhost", "::1")
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
