"""What the checklist's tests share: commands on the host, as root or as the service user."""

from __future__ import annotations

import ipaddress
import json
import shlex
from typing import Any

UNIT = "cognitive-memory-mcp.service"
ENVIRONMENTS = ("production", "development")


def database_of(settings: dict[str, Any], environment: str) -> str:
    return settings["cogmem_db_name" if environment == "production" else "cogmem_dev_db_name"]


def env_file_of(settings: dict[str, Any], environment: str) -> str:
    return f"{settings['cogmem_prefix']}/config/.env.{environment}"


def as_service_user(settings: dict[str, Any], environment: str, *argv: str) -> str:
    """A shell command running argv as the service user with that environment's settings."""
    prefix = settings["cogmem_prefix"]
    command = [
        "runuser", "-u", settings["cogmem_user"], "--", "env",
        f"ENVIRONMENT={environment}", f"COGMEM_CONFIG_DIR={prefix}/config",
        "COGMEM_LOG_LEVEL=WARNING", *argv,
    ]  # fmt: skip
    return "cd / && " + shlex.join(command)


def app_command(settings: dict[str, Any], environment: str, *args: str) -> str:
    return as_service_user(
        settings, environment, f"{settings['cogmem_prefix']}/venv/bin/cognitive-memory", *args
    )


def app_python(settings: dict[str, Any], environment: str, code: str) -> str:
    return as_service_user(
        settings, environment, f"{settings['cogmem_prefix']}/venv/bin/python", "-c", code
    )


def psql_value(host, settings: dict[str, Any], database: str, query: str) -> str:
    """One value from a query run as `postgres` over the Unix socket."""
    command = [
        "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-q",
        "-v", "ON_ERROR_STOP=1", "-p", str(settings["postgresql_port"]), "-d", database,
        "-c", query,
    ]  # fmt: skip
    return host.check_output("cd / && " + shlex.join(command)).strip()


def call_tool(
    host, settings: dict[str, Any], environment: str, tool: str, arguments: dict, http: bool
) -> dict:
    """Call an MCP tool through the app's own client: HTTP with the token, or its stdio server."""
    args = ["call", tool, "--json-args", json.dumps(arguments), "--env", environment]
    if http:
        args += ["--url", http_url(settings)]
    result = host.run(app_command(settings, environment, *args))
    assert result.rc == 0, f"cognitive-memory {shlex.join(args)} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def http_url(settings: dict[str, Any]) -> str:
    return f"http://{settings['cogmem_http_host']}:{settings['cogmem_http_port']}/mcp"


def journal(host, lines: int = 60) -> str:
    """The unit's recent journal, for the message of a failed service check."""
    output = host.run(f"journalctl -u {UNIT} -n {lines} --no-pager -o short-iso")
    status = host.run(f"systemctl status {UNIT} --no-pager -l")
    return f"\n--- systemctl status {UNIT}\n{status.stdout}\n--- journal\n{output.stdout}"


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6} (32-bit words in host byte order) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_sockets(host) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket, read from /proc: no ss or netstat needed."""
    table = host.check_output("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true")
    found = set()
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:  # 0A: LISTEN
            address, port = fields[1].split(":")
            found.add((_address(address), int(port, 16)))
    return found


def listens_on(host, address: str, port: int) -> bool:
    """True when a socket listens on address:port (or on the wildcard of its family)."""
    family_any = "::" if ":" in address else "0.0.0.0"
    sockets = listening_sockets(host)
    return (address, port) in sockets or (family_any, port) in sockets
