"""Applies migrations/NNN_name.sql in order, each in one transaction, recorded with checksums."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from mcp_server.errors import UserError

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every process that migrates.
LOCK_KEY = 7_305_118_204


class MigrationError(UserError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:03d}_{self.name}.sql"


def migrations_dir() -> Path:
    """Packaged in the wheel as mcp_server/migrations; in a checkout, the top-level folder."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "migrations"
    return packaged if packaged.is_dir() else package.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"Migration file name must look like 001_name.sql: {path}")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"Two migrations share number {version:03d}: "
                f"{found[version].file_name} and {path.name}"
            )
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    if not found:
        raise MigrationError(f"No migrations found in {directory}")
    return [found[v] for v in sorted(found)]


_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def applied(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    """{version: (name, checksum)} of what this database has applied (none on a new one)."""
    conn.execute(_CREATE_LEDGER)
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {version: (name, checksum) for version, name, checksum in rows}


def _check_unchanged(known: dict[int, tuple[str, str]], migrations: list[Migration]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(known.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"Database has migration {version:03d}_{name} that this release does not ship; "
                "upgrade the package instead of downgrading"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"Migration {migration.file_name} was edited after it was applied "
                f"(checksum {checksum[:12]} in the database, {migration.checksum[:12]} on disk); "
                "restore the file and put the change in a new migration"
            )


def pending(conn: psycopg.Connection, migrations: list[Migration]) -> list[Migration]:
    known = applied(conn)
    _check_unchanged(known, migrations)
    return [m for m in migrations if m.version not in known]


def migrate(
    conn: psycopg.Connection, migrations: list[Migration] | None = None, *, embedding_dim: int
) -> list[Migration]:
    """Apply what is pending and make sure the vector indexes exist; return what was applied."""
    migrations = migrations if migrations is not None else discover()
    done: list[Migration] = []
    with conn.transaction():
        # Serialize concurrent migrators (several stdio servers starting at once).
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        todo = pending(conn, migrations)
    for migration in todo:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            if migration.version in applied(conn):
                continue
            make_room_for_the_graph(conn, embedding_dim)  # a rewrite rebuilds the index
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
        done.append(migration)
    ensure_vector_indexes(conn, embedding_dim)
    return done


# Tables with an `embedding vector` column of any dimension; each gets an HNSW index per
# dimension in use, so a model change needs a re-embed, not a schema migration.
VECTOR_TABLES = ("l2_insights", "episode_memory")
# A denser graph than pgvector's defaults (m 16, ef_construction 64) finds more of the true
# nearest neighbours per search: at 100k insights (bench/hybrid_search.py) recall@10 at
# ef_search 150 went 0.92 -> 0.96, for a build about twice as long. Indexes made before keep
# their options until rebuilt (README, "Search at scale").
HNSW_OPTIONS = {"m": 24, "ef_construction": 200}


# The graph holds each vector at half precision (pgvector's halfvec, 2 bytes a component):
# half the index pages to cache and read per search, and at 1536 dimensions two vectors per
# 8 KB page instead of one. Searches order by the same expression (`vector_order`) and
# report the exact distance from the stored full-precision vector. At 100k insights
# (bench/hybrid_search.py) vector recall@10 at ef_search 150 stayed at or above 0.95.
def vector_index_name(table: str, dimension: int) -> str:
    return f"{table}_embedding_{dimension}_halfvec_hnsw"


def superseded_index_name(table: str, dimension: int) -> str:
    """The full-precision index of earlier releases, dropped once the halfvec one is built."""
    return f"{table}_embedding_{dimension}_hnsw"


def vector_order(dimension: int, parameter: str = "embedding") -> sql.Composed:
    """The distance the HNSW index orders by, to the query vector `%(parameter)s`."""
    return sql.SQL("embedding::halfvec({dim}) <=> {query}::halfvec({dim})").format(
        dim=sql.Literal(dimension), query=sql.Placeholder(parameter)
    )


def nearest(table: str, columns: list[str], dimension: int, limit: sql.Composable) -> sql.Composed:
    """The `limit` rows nearest the query vector `%(embedding)s`, in the index's order.

    It computes only that order: a caller computes exact distances over these rows alone.
    Where the planner sorts a small table instead of walking the index, a distance in this
    select list would be computed, and the vector read, for every row of the table."""
    return sql.SQL(
        "SELECT {columns} FROM {table} WHERE embedding_dim = {dim} ORDER BY {order} LIMIT {limit}"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(table),
        dim=sql.Literal(dimension),
        order=vector_order(dimension),
        limit=limit,
    )


def vector_index_sql(table: str, dimension: int, *, concurrently: bool = False) -> sql.Composed:
    return sql.SQL(
        "CREATE INDEX {how} IF NOT EXISTS {index} ON {table} USING hnsw "
        "((embedding::halfvec({dim})) halfvec_cosine_ops) WITH ({options}) "
        "WHERE embedding_dim = {dim}"
    ).format(
        how=sql.SQL("CONCURRENTLY" if concurrently else ""),
        index=sql.Identifier(vector_index_name(table, dimension)),
        table=sql.Identifier(table),
        dim=sql.Literal(dimension),
        options=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.SQL(name), sql.Literal(value))
            for name, value in HNSW_OPTIONS.items()
        ),
    )


def drop_superseded_sql(table: str, dimension: int, *, concurrently: bool = False) -> sql.Composed:
    return sql.SQL("DROP INDEX {how} IF EXISTS {index}").format(
        how=sql.SQL("CONCURRENTLY" if concurrently else ""),
        index=sql.Identifier(superseded_index_name(table, dimension)),
    )


# pgvector builds an HNSW index fast while the graph fits in maintenance_work_mem, and inserts
# what does not fit one row at a time, many times slower: at PostgreSQL's default 64MB,
# migration 005 (it rewrites l2_insights, so the index is built anew) ran over 35 minutes at
# 100k insights (bench/reindex.py). Room for the graph: each row's vector and 2m links of 8
# bytes, half again; at most a quarter of the RAM (whoever builds runs on the database's host:
# the embedded cluster, or `db migrate` on the appliance); never less than configured.
# The planner's count (no scan at every start); -1 until the first ANALYZE, then counted.
INSIGHT_ROWS = """
SELECT coalesce((SELECT reltuples::bigint FROM pg_class
                 WHERE oid = to_regclass('l2_insights')), 0)"""
_ROOM = """
SELECT set_config('maintenance_work_mem', %(mb)s || 'MB', %(local)s)
WHERE %(mb)s > (SELECT setting::bigint / 1024 FROM pg_settings
                WHERE name = 'maintenance_work_mem')"""


def graph_room_mb(rows: int, dimension: int) -> int:
    graph = rows * (dimension * 4 + 2 * HNSW_OPTIONS["m"] * 8) * 3 // 2 // 2**20
    return min(graph, psutil.virtual_memory().total // 4 // 2**20)


def room_for_the_graph(rows: int, dimension: int, *, local: bool) -> tuple[str, dict]:
    """The statement raising maintenance_work_mem for an HNSW build over `rows` rows."""
    return _ROOM, {"mb": graph_room_mb(rows, dimension), "local": local}


def make_room_for_the_graph(conn: psycopg.Connection, dimension: int) -> None:
    """For the rest of the open transaction, sized by the planner's count of insights."""
    rows = conn.execute(INSIGHT_ROWS).fetchone()[0]
    if rows < 0:  # a table loaded in bulk and never analyzed
        rows = conn.execute("SELECT count(*) FROM l2_insights").fetchone()[0]
    conn.execute(*room_for_the_graph(rows, dimension, local=True))


# True: a valid index; False: an invalid one (an interrupted concurrent build); None: none.
VECTOR_INDEX_STATE = """
SELECT bool_and(i.indisvalid) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace"""


def ensure_vector_indexes(conn: psycopg.Connection, dimension: int) -> None:
    """Build what is missing, holding off writers meanwhile: for migrations, not a serving server
    (mcp_server.db.index_upkeep builds there without blocking)."""
    for table in VECTOR_TABLES:
        with conn.transaction():
            # IF NOT EXISTS is no guard against a concurrent CREATE INDEX of the same name.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            make_room_for_the_graph(conn, dimension)
            conn.execute(vector_index_sql(table, dimension))
            conn.execute(drop_superseded_sql(table, dimension))


def current(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> bool:
    """True when every shipped migration is applied and none was edited."""
    migrations = migrations if migrations is not None else discover()
    with conn.transaction():
        return not pending(conn, migrations)
