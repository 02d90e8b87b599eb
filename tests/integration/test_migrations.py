from __future__ import annotations

import asyncio
import os
import sqlite3
from asyncio.subprocess import PIPE
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from tests.support import STOREFRONT, in_unit_of_work
from write_model.database import MIGRATIONS, Database, create_schema, open_database
from write_model.repositories import IdempotencyRecord
from write_model.results import Accepted


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _upgrade_to(revision: str) -> Callable[[Connection], None]:
    def upgrade(connection: Connection) -> None:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


def _check(connection: Connection) -> None:
    config = _config()
    config.attributes["connection"] = connection
    command.check(config)  # raises when the tables and the migrations disagree


async def test_the_migrations_build_exactly_the_tables_the_code_declares(database: Database) -> None:
    async with database.writer.connect() as connection:
        await connection.run_sync(_check)


async def test_migrating_again_and_from_concurrent_processes_is_harmless(database: Database, tmp_path: Path) -> None:
    await create_schema(database)
    fresh = tmp_path / "fresh.db"
    env = {**os.environ, "STOREFRONT_DATABASE_URL": f"sqlite+aiosqlite:///{fresh}"}
    migrations = [
        await asyncio.create_subprocess_exec(STOREFRONT, "migrate", env=env, stdout=PIPE, stderr=PIPE) for _ in range(3)
    ]
    for process in migrations:
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
    with sqlite3.connect(fresh) as connection:
        assert connection.execute("SELECT count(*) FROM outbox_head").fetchone() == (1,)
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


async def test_idempotency_records_stored_with_a_command_name_still_answer(tmp_path: Path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade_to("0004"))
    with closing(sqlite3.connect(tmp_path / "old.db")) as old, old:
        old.execute("INSERT INTO idempotency_keys (key, command, fingerprint, result, created_at) VALUES"
                    " ('k-1', 'AdjustStock', 'f-1', '{\"id\": \"p-1\", \"version\": 2, \"position\": 7}',"
                    " '2026-01-01 00:00:00')")

    await create_schema(database)

    record = await in_unit_of_work(database, lambda uow: uow.idempotency_keys.get("k-1"))
    assert record == IdempotencyRecord("f-1", Accepted("p-1", 2, 7))
    await database.dispose()
