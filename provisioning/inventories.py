"""Helpers for inventory files: the local throwaway host and the demo's settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# The CA certificates an administrator added to this machine's trust store (Debian layout).
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")

# The demo runs without any API key: the lexical `hashing` embedder, allowed in production
# only because it is named here as a demo setting.
DEMO_SETTINGS: dict[str, Any] = {
    "cogmem_embedding_provider": "hashing",
    "cogmem_embedding_model": "hashing-lexical-v1",
    "cogmem_embedding_dimension": 384,
    "cogmem_allow_hashing_in_production": True,
}


def local_ca_certificates() -> list[str]:
    """CA files this machine trusts beyond the system's (e.g. a TLS-intercepting proxy's)."""
    if not LOCAL_CA_DIR.is_dir():
        return []
    return sorted(str(p) for p in LOCAL_CA_DIR.rglob("*.crt") if p.is_file())


def demo_data() -> dict[str, Any]:
    return {**DEMO_SETTINGS, "cogmem_ca_certificates": local_ca_certificates()}


def testhost_entry(name: str | None = None, extra: dict | None = None) -> tuple[str, dict]:
    """(name, host data) of a running throwaway host, for `hosts = [...]` in an inventory."""
    from provisioning import testhost

    name = name or os.environ.get("COGMEM_TESTHOST")
    if not name:
        running = [h.name for h in testhost.list_hosts()]
        if len(running) != 1:
            raise SystemExit(
                "set COGMEM_TESTHOST to one of: "
                + (", ".join(running) or "(none running: python -m provisioning.testhost up)")
            )
        name = running[0]
    host = testhost.TestHost.load(name)
    if not host.ssh_port:
        raise SystemExit(f"no throwaway host {name!r}: python -m provisioning.testhost up")
    address, data = host.pyinfra_host_data()
    connection = {"ssh_hostname": address, "ssh_config_file": str(host.ssh_config_path), **data}
    return host.name, {**connection, **throwaway_data(host), **(extra or {})}


# A throwaway host's disk is this machine's: production's free-space floor would measure the
# developer's machine (often short of 10 GB), not the appliance.
THROWAWAY_DISK_FLOOR_GB = 1


def throwaway_data(host) -> dict[str, int]:
    """The settings a throwaway host needs beyond the inventory's: its own ports, a disk floor."""
    return {**own_ports(host), "cogmem_min_free_disk_gb": THROWAWAY_DISK_FLOOR_GB}


def own_ports(host) -> dict[str, int]:
    """PostgreSQL and HTTP ports of its own for a throwaway host, kept for its lifetime.

    The host shares this machine's network, where 5432 or 8765 may be taken (a developer's own
    PostgreSQL, a second throwaway host); re-deploys must see the same ports again.
    """
    from provisioning import testhost

    path = host.folder / "deploy-ports.json"
    if path.is_file():
        return json.loads(path.read_text())
    taken = {host.ssh_port}
    ports = {}
    for key in ("postgresql_port", "cogmem_http_port"):
        port = testhost.free_port()
        while port in taken:
            port = testhost.free_port()
        ports[key] = port
        taken.add(port)
    path.write_text(json.dumps(ports) + "\n")
    return ports
