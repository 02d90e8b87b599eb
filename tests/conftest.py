"""Fixtures every test may use. Those here need nothing but a fresh SQLite file per test, so
unit and write-model tests run without Elasticsearch; the ones that need the read model (a real
node, a container, a live server) are in tests/elasticsearch_fixtures.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from write_model.database import Database, create_schema, open_database

pytest_plugins = ["tests.elasticsearch_fixtures"]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The write model of one test: a SQLite file of its own."""
    return f"sqlite+aiosqlite:///{tmp_path / 'write.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The test's write model, migrated."""
    database = open_database(database_url)
    await create_schema(database)
    yield database
    await database.dispose()
