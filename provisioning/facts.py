"""Facts the appliance deploy reads from the host. None of them changes anything.

PostgreSQL facts run psql as the `postgres` operating-system user over the Unix socket and
return None when the cluster, the database or the table is not there yet (a fresh host).
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from provisioning.envfile import parse_env

_MISSING = "@@cogmem-missing@@"


def psql_as_postgres(database: str, port: int, *args: str) -> list[str]:
    """psql as the `postgres` operating-system user over the Unix socket, stopping on errors."""
    runuser = ["runuser", "-u", "postgres", "--"]
    return [
        *runuser,
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-p",
        str(port),
        "-d",
        database,
        *args,
    ]


def psql(database: str, port: int, query: str) -> str:
    """A read-only query (unaligned, tuples only); prints the marker instead of failing."""
    command = shlex.join(psql_as_postgres(database, port, "-A", "-t", "-c", query))
    return f"{{ {command}; }} 2>/dev/null || echo {_MISSING}"


def _rows(output: list[str]) -> list[str] | None:
    if _MISSING in output:
        return None
    return [line for line in output if line.strip()]


class HostSecrets(FactBase):
    """The two env files as the host has them, plus three fresh random values made on the host.

    The deploy keeps what the files hold (the password and the tokens survive re-runs) and
    uses the fresh values only for what is missing. Its output holds secrets: read it with
    `provisioning.operations.quiet_fact`, which keeps pyinfra from printing it.
    """

    def command(self, config_dir: str) -> str:
        files = " ".join(
            shlex.quote(f"{config_dir}/.env.{e}") for e in ("production", "development")
        )
        random = "head -c 32 /dev/urandom | base64 | tr -d '\\n=' | tr '+/' '-_'; echo"
        return (
            f'for f in {files}; do echo "@@file $f"; cat "$f" 2>/dev/null; echo; done; '
            f'echo "@@generated"; for i in 1 2 3; do {random}; done'
        )

    @staticmethod
    def default() -> dict:
        return {"production": {}, "development": {}, "generated": []}

    def process(self, output: list[str]) -> dict:
        result = self.default()
        section: str | None = None
        chunks: dict[str, list[str]] = {"production": [], "development": []}
        for line in output:
            if line.startswith("@@file "):
                section = "production" if line.endswith(".env.production") else "development"
            elif line == "@@generated":
                section = "generated"
            elif section == "generated":
                if line.strip():
                    result["generated"].append(line.strip())
            elif section:
                chunks[section].append(line)
        for environment, lines in chunks.items():
            result[environment] = parse_env("\n".join(lines))
        return result


class RolePassword(FactBase):
    """The stored SCRAM verifier of a role ("" when it has none), None when there is no role."""

    def command(self, role: str, port: int) -> str:
        query = (
            f"SELECT 'role:' || coalesce(rolpassword, '') FROM pg_authid WHERE rolname = '{role}'"
        )
        return psql("postgres", port, query)

    def process(self, output: list[str]):
        rows = _rows(output)
        if not rows:
            return None
        return rows[0].removeprefix("role:")


class DatabaseExtensions(FactBase):
    """Names of the extensions installed in a database; None if the database is missing."""

    def command(self, database: str, port: int) -> str:
        return psql(database, port, "SELECT extname FROM pg_extension")

    def process(self, output: list[str]):
        rows = _rows(output)
        return None if rows is None else set(rows)


class AppliedMigrations(FactBase):
    """Migration versions recorded in a database; None before the first migration."""

    def command(self, database: str, port: int) -> str:
        return psql(database, port, "SELECT version FROM schema_migrations")

    def process(self, output: list[str]):
        rows = _rows(output)
        return None if rows is None else {int(v) for v in rows}


class SchemaFingerprint(FactBase):
    """A digest of a database's schema (tables, columns, indexes, constraints, extensions)."""

    def command(self, database: str, port: int, query: str) -> str:
        return psql(database, port, query)

    def process(self, output: list[str]):
        rows = _rows(output)
        return rows[0] if rows else None


class InstalledVersion(FactBase):
    """Version of a distribution installed in a virtualenv; None when it is not there."""

    def command(self, venv: str, package: str) -> str:
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        python = shlex.quote(f"{venv}/bin/python")
        return f"{python} -c {shlex.quote(code)} 2>/dev/null || echo {_MISSING}"

    def process(self, output: list[str]):
        rows = _rows(output)
        return rows[0].strip() if rows else None
