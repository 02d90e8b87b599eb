"""Engines for the write model.

SQLite gets WAL (readers never block the writer), a busy timeout, and `BEGIN IMMEDIATE`
on the writer engine: a command takes the write lock when its transaction starts, instead
of failing with "database is locked" when it tries to upgrade a read lock mid-transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")

SQLITE_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Database:
    """`writer` runs commands; `reader` serves outbox tails and status reads."""

    writer: AsyncEngine
    reader: AsyncEngine

    async def dispose(self) -> None:
        await self.writer.dispose()
        await self.reader.dispose()


def open_database(url: str) -> Database:
    """Build engines (no connection is made until first use)."""
    if make_url(url).get_backend_name() != "sqlite":
        return Database(writer=create_async_engine(url), reader=create_async_engine(url))
    # SQLite runs one write transaction at a time anyway: one writer connection per process
    # queues commands in the pool instead of in SQLite's busy handler, whose sleeps made the
    # slowest commands wait seconds under load (see bench/README.md, B6).
    writer = _sqlite_engine(url, "BEGIN IMMEDIATE", pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_S)
    return Database(writer=writer, reader=_sqlite_engine(url, "BEGIN"))


def _sqlite_engine(url: str, begin_statement: str, **pool: Any) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)

    return engine


async def create_schema(database: Database) -> None:
    """Apply every pending migration; safe to run on every start and from several processes
    (on SQLite the writer's BEGIN IMMEDIATE serializes them)."""
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
