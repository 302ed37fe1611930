"""The upgrade to migration 005 at 10k and 100k insights: the migration, then `reindex`.

An upgraded store is built as it was before 005: a database migrated to 004, raw turns in
sessions of 20 (generated sentences, one turn a minute), one insight per turn with 004's
context (the turn before it), random unit vectors, and the HNSW index built after the load.
Then the current migrations are applied (005 rewrites the table: new generated column) and
`mcp_server.ops.reindex` gives every insight its date words and neighbouring turns, as
`cognitive-memory reindex` does; finally a second run, which must write nothing.

    python bench/reindex.py [--sizes 10000 100000] [--dims 384] [--batch-size 500]
                            [--skip-migration]

Migration 005 rewrites the table and rebuilds its indexes at PostgreSQL's default
maintenance_work_mem: at 100k insights that alone took over half an hour at load 13, hence
`--skip-migration` (the migration column then says "–").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from rich.console import Console
from rich.progress import Progress

from bench import results_file, scratch
from bench.hybrid_search import Sentences

SESSION_TURNS = 20
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
console = Console(stderr=True)


def build_before_005(url: str, size: int, dimension: int, migrated: bool) -> None:
    from mcp_server.db import migrator

    sentences = Sentences(seed=size)
    rng = np.random.default_rng(size)
    with psycopg.connect(url, autocommit=True) as conn:
        # `migrated`: the rows as 005 leaves them (empty source_words, 004's context), without
        # paying for the migration's table rewrite
        shipped = migrator.discover()
        migrator.migrate(
            conn,
            shipped if migrated else [m for m in shipped if m.version <= 4],
            embedding_dim=dimension,
        )
        register_vector(conn)
        conn.execute(f"DROP INDEX {migrator.vector_index_name('l2_insights', dimension)}")
        texts = [sentences.make(8, 20) for _ in range(size)]
        with conn.cursor().copy(
            "COPY l0_raw (session_id, speaker, content, created_at) FROM STDIN"
        ) as copy:
            for n, text in enumerate(texts):
                session, turn = divmod(n, SESSION_TURNS)
                copy.write_row(
                    (f"s{session}", "user" if turn % 2 else "assistant", text,
                     (START + dt.timedelta(minutes=n)).isoformat())
                )  # fmt: skip
        copy_sql = (
            "COPY l2_insights (content, embedding, embedding_model, source_ids, context, "
            "text_search_config) FROM STDIN"
        )
        with conn.cursor().copy(copy_sql) as copy:
            for n, text in enumerate(texts, start=1):
                vector = rng.standard_normal(dimension).astype(np.float32)
                before = texts[n - 2] if (n - 1) % SESSION_TURNS else ""
                copy.write_row(
                    (text, vector / np.linalg.norm(vector), "random", [n], before, "english")
                )
        conn.execute("SET maintenance_work_mem = '1GB'")
        migrator.ensure_vector_indexes(conn, dimension)
        conn.execute("VACUUM ANALYZE l2_insights")


async def reindex(url: str, batch_size: int, size: int, dimension: int):
    from mcp_server.ops import reindex as ops

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with Progress(console=console) as progress:
            task = progress.add_task("reindex", total=size)
            return await ops.reindex(
                conn, context_turns=2, dimension=dimension, batch_size=batch_size,
                everything=False,
                advance=lambda n: progress.advance(task, n),
            )  # fmt: skip


def run(admin_url: str, size: int, dimension: int, batch_size: int, migrated: bool) -> list:
    from mcp_server.db import migrator

    name = f"bench_reindex_{size}_{dimension}"
    url = admin_url.replace("/postgres?", f"/{name}?")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    console.print(f"{size:,} insights × {dimension}: building the store as of 004…")
    build_before_005(url, size, dimension, migrated)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=dimension)
    migrate_s = None if migrated else round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    first = asyncio.run(reindex(url, batch_size, size, dimension))
    reindex_s = time.perf_counter() - started
    started = time.perf_counter()
    second = asyncio.run(reindex(url, batch_size, size, dimension))
    again_s = time.perf_counter() - started
    assert first.changed == size and second.examined == 0, (first, second)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    return [
        size, dimension, migrate_s, round(reindex_s, 1),
        round(size / reindex_s), round(again_s, 2),
    ]  # fmt: skip


COLUMNS = [
    "insights",
    "dims",
    "migrations 005+ s",
    "reindex s",
    "insights/s",
    "second run s",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[384])
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--skip-migration",
        action="store_true",
        help="build the rows as migration 005 leaves them and time only reindex",
    )
    args = parser.parse_args()
    scratch.private_cluster("cogmem-bench-reindex-")
    from mcp_server.db.embedded import embedded_url
    from mcp_server.log import configure_logging

    configure_logging("WARNING")
    machine_text = results_file.machine()
    admin_url = embedded_url("postgres")
    rows = [
        run(admin_url, size, dim, args.batch_size, args.skip_migration)
        for dim in args.dims
        for size in args.sizes
    ]
    results_file.show("Upgrade to 005: migration, then cognitive-memory reindex", COLUMNS, rows)
    results_file.write(
        "reindex",
        title="Upgrade of a store written before migration 005: the migrations, then "
        "`cognitive-memory reindex` (one insight per raw turn, HNSW index present)",
        columns=COLUMNS,
        rows=rows,
        versions=results_file.versions("psycopg", postgres_url=admin_url),
        machine_text=machine_text,
    )


if __name__ == "__main__":
    main()
