"""An environment's DATABASE_URL as libpq environment variables plus a passfile.

    python -m mcp_server.ops.libpq_env ENVIRONMENT CONFIG_DIR PASSFILE   # prints `export PG...`

For pg_dump and pg_restore in the backup scripts: psycopg parses the URL (percent-encoding,
IPv6 hosts, `?sslmode=` and friends), dotenv reads the file exactly as the server does, and
the password goes to a mode-600 passfile, never to a command line or the environment.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from dotenv import dotenv_values
from psycopg.conninfo import conninfo_to_dict

from mcp_server.config import ConfigurationError, env_file_path, resolve_environment

# conninfo keyword -> the libpq environment variable that carries it.
LIBPQ_ENV = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER",
    "dbname": "PGDATABASE", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL",
    "sslnegotiation": "PGSSLNEGOTIATION", "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE", "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME", "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}  # fmt: skip


class UrlError(ValueError):
    pass


def parse(env_file: str) -> tuple[dict[str, str], str]:
    """(libpq environment, password) of the DATABASE_URL in `env_file`."""
    url = dotenv_values(env_file).get("DATABASE_URL")
    if not url:
        raise UrlError(f"no DATABASE_URL in {env_file}")
    return parse_url(url, origin=f"DATABASE_URL in {env_file}")


def parse_url(url: str, origin: str = "DATABASE_URL") -> tuple[dict[str, str], str]:
    """(libpq environment, password) of one connection URL."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise UrlError(f"{origin}: {error}") from None
    password = str(params.pop("password", "") or "")
    unsupported = sorted(set(params) - set(LIBPQ_ENV))
    if unsupported:
        raise UrlError(f"DATABASE_URL parameter {unsupported[0]!r} is not supported here")
    if not params.get("dbname"):
        raise UrlError(f"{origin} names no database")
    return {LIBPQ_ENV[key]: str(value) for key, value in params.items() if value}, password


@contextmanager
def client_environment(url: str, **overrides: str) -> Iterator[dict[str, str]]:
    """os.environ for a libpq client tool (pg_dump, pg_restore, psql) connecting like `url`.

    The password sits in a mode-600 passfile for the tool's lifetime, removed afterwards;
    `overrides` replace libpq variables (e.g. PGDATABASE of a scratch database).
    """
    env, password = parse_url(url)
    env.update(overrides)
    with tempfile.TemporaryDirectory(prefix="cogmem-pg-") as folder:
        passfile = os.path.join(folder, "pgpass")
        write_passfile(passfile, {**env, "PGDATABASE": "*"}, password)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        yield {**inherited, **env, "PGPASSFILE": passfile}


def _passfile_field(value: str) -> str:
    return (value or "*").replace("\\", "\\\\").replace(":", "\\:")


def write_passfile(path: str, env: dict[str, str], password: str) -> None:
    fields = [env.get(k, "") for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")] + [password]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(":".join(_passfile_field(v) for v in fields) + "\n")


def env_file_of(environment: str, config_dir: str) -> str:
    """The readable env file of a valid environment, or a clear error."""
    path = env_file_path(Path(config_dir), resolve_environment(environment))
    if not os.access(path, os.R_OK):
        raise UrlError(f"cannot read {path} (run as the service user or root)")
    return str(path)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(
            "usage: python -m mcp_server.ops.libpq_env ENVIRONMENT CONFIG_DIR PASSFILE",
            file=sys.stderr,
        )
        return 2
    environment, config_dir, passfile = argv
    try:
        env, password = parse(env_file_of(environment, config_dir))
    except (UrlError, ConfigurationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_passfile(passfile, env, password)
    for key, value in {**env, "PGPASSFILE": passfile}.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
