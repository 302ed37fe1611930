"""The appliance's own secrets: the database password and the HTTP tokens.

They are generated on the host (HostSecrets) and live only in the env files; the control
machine holds them in memory while it renders those files. PostgreSQL gets the password as
a SCRAM-SHA-256 verifier, computed here, so the password itself never reaches psql.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from provisioning.envfile import url_password
from provisioning.settings import DEPLOYER_SECRETS, is_placeholder

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


@dataclass(frozen=True)
class ApplianceSecrets:
    db_password: str
    tokens: dict[str, str]  # environment -> MCP_HTTP_TOKEN
    keys: dict[str, dict[str, str]]  # environment -> API keys and alert settings


def choose(host_state: dict, deployer: dict[str, str]) -> ApplianceSecrets:
    """Keep what the host's env files hold; take fresh host-made values for what is missing.

    API keys: the deployer's value wins, else the one already on the host (a user may have
    typed it in there), else nothing (the template writes a placeholder).
    """
    production, development = host_state["production"], host_state["development"]
    fresh = list(host_state["generated"])
    if len(fresh) < 3 or any(len(value) < 32 for value in fresh):
        raise RuntimeError("the host did not return random values (is /dev/urandom there?)")
    password = (
        url_password(production.get("DATABASE_URL"))
        or url_password(development.get("DATABASE_URL"))
        or fresh[0]
    )
    tokens = {}
    keys = {}
    for index, (environment, current) in enumerate(
        (("production", production), ("development", development)), start=1
    ):
        token = current.get("MCP_HTTP_TOKEN", "")
        tokens[environment] = (
            token if len(token) >= 32 and not is_placeholder(token) else fresh[index]
        )
        kept = {
            name: value
            for name, value in current.items()
            if name in DEPLOYER_SECRETS and not is_placeholder(value)
        }
        keys[environment] = {**kept, **deployer}
    return ApplianceSecrets(password, tokens, keys)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """What PostgreSQL stores for `PASSWORD '...'` with password_encryption=scram-sha-256."""
    salt = salt if salt is not None else os.urandom(16)
    stored_key, server_key = _keys(password, salt, iterations)
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def verifies(password: str, verifier: str | None) -> bool:
    """True when `verifier` (from pg_authid) was made from `password`."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        expected = _keys(password, base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    given = (base64.b64decode(stored_key), base64.b64decode(server_key))
    return hmac.compare_digest(expected[0], given[0]) and hmac.compare_digest(expected[1], given[1])
