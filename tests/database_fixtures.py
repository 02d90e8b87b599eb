"""The write model of a test, on each backend the run asks for.

``STOREFRONT_TEST_BACKENDS`` (comma-separated, ``sqlite`` by default; ``scripts/test`` sets
``sqlite,postgres``) names the backends. Tests under the folders in ``ON_EVERY_BACKEND`` that
use the write model run once per backend, with ids ``[sqlite]`` and ``[postgres]``; others, and
tests marked ``sqlite_only`` (they reach into the SQLite file itself), run on SQLite alone.

On PostgreSQL each test gets a database of its own, copied from a template this session
migrated once (``CREATE DATABASE ... TEMPLATE``: a file copy, far faster than migrating), on
the dev cluster of ``storefront postgres`` (started here if it is not running). A run that asks
for PostgreSQL where it cannot start fails; it never skips.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import cluster as dev_postgres
from devtools.project import Project
from tests.support import PROJECT_ROOT
from write_model.database import create_schema, open_database

BACKENDS_VARIABLE = "STOREFRONT_TEST_BACKENDS"
KNOWN_BACKENDS = ("sqlite", "postgres")
ON_EVERY_BACKEND = ("integration", "e2e", "faults")  # folders under tests/
SESSION_TAG = uuid.uuid4().hex[:8]  # several test sessions may share the dev cluster


def requested_backends() -> list[str]:
    names = [name.strip() for name in os.environ.get(BACKENDS_VARIABLE, "sqlite").split(",") if name.strip()]
    unknown = sorted(set(names) - set(KNOWN_BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(f"{BACKENDS_VARIABLE}={os.environ.get(BACKENDS_VARIABLE)!r}: name one or more of "
                                f"{', '.join(KNOWN_BACKENDS)}, comma-separated")
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test reaches into SQLite itself; run it on SQLite alone")
    config.addinivalue_line("markers", "postgres_only: the test is about PostgreSQL; run it when the run asks for it")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    folder = Path(metafunc.definition.path).relative_to(PROJECT_ROOT / "tests").parts[0]
    if metafunc.definition.get_closest_marker("postgres_only") is not None:
        metafunc.parametrize("backend", ["postgres"], indirect=True)
    elif metafunc.definition.get_closest_marker("sqlite_only") is not None:
        metafunc.parametrize("backend", ["sqlite"], indirect=True)
    elif folder in ON_EVERY_BACKEND:
        metafunc.parametrize("backend", requested_backends(), indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (not skip) the PostgreSQL-only tests of a run that does not ask for PostgreSQL."""
    if "postgres" in requested_backends():
        return
    left_out = [item for item in items if item.get_closest_marker("postgres_only") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker("postgres_only") is None]


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The write model's backend of this test (SQLite where the test is not parametrized)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The dev cluster's URL: the running one, or one this session starts (and stops)."""
    project = Project.find(PROJECT_ROOT)
    running = dev_postgres.status(project)
    if running is not None:
        yield running.url
        return
    try:
        url = dev_postgres.start(project)
    except dev_postgres.DevPostgresError as error:
        pytest.fail(f"{BACKENDS_VARIABLE} asks for postgres, but the dev PostgreSQL does not start: {error}",
                    pytrace=False)
    yield url
    dev_postgres.stop(project)


@pytest.fixture
def scratch_project() -> Iterator[Path]:
    """A project folder of its own for a dev cluster a test starts and stops (never the shared one),
    where the server's user can reach it: pytest's tmp_path sits under a folder only root may enter."""
    folder = Path(tempfile.mkdtemp(prefix="storefront-pg-test-", dir="/tmp"))
    folder.chmod(0o755)
    (folder / "pyproject.toml").write_text('[tool.storefront-devtools]\ndata-dir = ".devtools"\n')
    yield folder
    dev_postgres.stop(Project.find(folder))
    shutil.rmtree(folder)


def url_of(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


async def _admin(server_url: str, statement: str) -> None:
    """Run a statement on the maintenance database, outside a transaction (as CREATE/DROP DATABASE must)."""
    engine = create_async_engine(url_of(server_url, "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_template(postgres_server_url: str) -> AsyncIterator[str]:
    """A database migrated once per session, which each test's database is copied from."""
    name = f"storefront_template_{SESSION_TAG}"
    await _admin(postgres_server_url, f'CREATE DATABASE "{name}"')
    database = open_database(url_of(postgres_server_url, name))
    await create_schema(database)
    await database.dispose()  # CREATE DATABASE ... TEMPLATE wants nobody connected to it
    yield name
    await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _copy(server_url: str, template: str) -> AsyncIterator[str]:
    name = f"t_{SESSION_TAG}_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield url_of(server_url, name)
    # FORCE: a server process the test killed may have left connections behind.
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def postgres_database(postgres_server_url: str, postgres_template: str) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of the test's own."""
    async for url in _copy(postgres_server_url, postgres_template):
        yield url


@pytest.fixture
async def empty_postgres_database(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database of the test's own."""
    async for url in _copy(postgres_server_url, "template0"):
        yield url


# Sync, so that they can ask for the PostgreSQL fixtures only when the backend is PostgreSQL
# (an async fixture cannot request another async fixture by name while the loop runs it).
@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The write model of one test: a SQLite file of its own, or a (migrated) PostgreSQL database of its own."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'write.db'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Like `database_url`, but never migrated: for tests of the migrations themselves."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("empty_postgres_database"))
