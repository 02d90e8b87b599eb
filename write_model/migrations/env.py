"""Alembic environment: runs on the connection `create_schema` hands over, or on
STOREFRONT_DATABASE_URL when a developer runs the alembic command."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from write_model import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from write_model.database import open_database


def _run(connection: Connection) -> None:
    # One transaction for the whole upgrade, on SQLite too (our engine issues BEGIN itself):
    # concurrent `migrate`s then queue on the write lock instead of racing between steps.
    context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                      transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url() -> None:
    database = open_database(os.environ.get("STOREFRONT_DATABASE_URL", "sqlite+aiosqlite:///./storefront.db"))
    async with database.writer.connect() as connection:
        await connection.run_sync(_run)
    await database.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_from_url())
