"""Engines and the command writer of the write model.

SQLite gets WAL (readers never block the writer), a busy timeout, and `BEGIN IMMEDIATE`
on the writing connections: a transaction takes the write lock when it starts, instead
of failing with "database is locked" when it tries to upgrade a read lock mid-transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from write_model.writer import GroupCommitWriter, SessionWriter, Writer

MIGRATIONS = Path(__file__).with_name("migrations")

SQLITE_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Database:
    """`commands` runs the commands' units of work; `writer` runs migrations and the consumers'
    checkpoints and leases; `reader` serves outbox tails and status reads."""

    commands: Writer
    writer: AsyncEngine
    reader: AsyncEngine

    async def dispose(self) -> None:
        """Stops the command writer's thread (after the commands it holds) and closes the engines."""
        await self.commands.close()
        await self.writer.dispose()
        await self.reader.dispose()


def open_database(url: str, *, write_group_max: int = 64, write_group_wait_s: float = 0.0) -> Database:
    """Build engines and the command writer (nothing connects until first use, so migrations
    run before the writer's thread starts)."""
    if make_url(url).get_backend_name() != "sqlite":
        writer = create_async_engine(url)
        return Database(commands=SessionWriter(writer), writer=writer, reader=create_async_engine(url))
    # SQLite runs one write transaction at a time anyway: one thread with one connection runs
    # every command of the process, several a transaction, instead of queueing them in SQLite's
    # busy handler, whose sleeps made the slowest commands wait seconds (see bench/README.md, W1).
    commands = GroupCommitWriter(
        _sqlite_commands_engine(url), group_max=write_group_max, group_wait_s=write_group_wait_s
    )
    writer = _sqlite_engine(url, "BEGIN IMMEDIATE", pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_S)
    return Database(commands=commands, writer=writer, reader=_sqlite_engine(url, "BEGIN"))


def _sqlite_commands_engine(url: str) -> Engine:
    """The same file through the stdlib sqlite3 driver, for the writer's thread (one connection)."""
    engine = create_engine(
        make_url(url).set(drivername="sqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
    )
    _configure_sqlite(engine, "BEGIN IMMEDIATE")
    return engine


def _sqlite_engine(url: str, begin_statement: str, **pool: Any) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **pool)
    _configure_sqlite(engine.sync_engine, begin_statement)
    return engine


def _configure_sqlite(engine: Engine, begin_statement: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)


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
