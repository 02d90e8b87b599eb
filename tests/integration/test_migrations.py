from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from server.bootstrap import Container
from write_model.database import MIGRATIONS, create_schema


def _check(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.check(config)  # raises when the tables and the migrations disagree


async def test_the_migrations_build_exactly_the_tables_the_code_declares(container: Container) -> None:
    async with container.database.writer.connect() as connection:
        await connection.run_sync(_check)


async def test_migrating_again_and_concurrently_is_harmless(container: Container) -> None:
    await asyncio.gather(*(create_schema(container.database) for _ in range(3)))
    async with container.database.reader.connect() as connection:
        heads = (await connection.execute(text("SELECT count(*) FROM outbox_head"))).scalar_one()
    assert heads == 1
