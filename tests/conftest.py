"""Fixtures every test may use. The write model of a test (a fresh SQLite file, or a fresh
PostgreSQL database) comes from tests/database_fixtures.py, so unit and write-model tests run
without Elasticsearch; the ones that need the read model (a real node, a container, a live
server) are in tests/elasticsearch_fixtures.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from write_model.database import Database, create_schema, open_database

pytest_plugins = ["tests.database_fixtures", "tests.elasticsearch_fixtures"]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The test's write model, migrated."""
    database = open_database(database_url)
    await create_schema(database)
    yield database
    await database.dispose()
