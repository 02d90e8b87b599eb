"""Engines and the command writer of the write model.

SQLite gets WAL (readers never block the writer), a busy timeout, and `BEGIN IMMEDIATE`
on the writing connections: a transaction takes the write lock when it starts, instead
of failing with "database is locked" when it tries to upgrade a read lock mid-transaction.
It also runs with `secure_delete`, so what a change frees (an erased customer's email) is
overwritten with zeros, not left in free space (write_model/scrub.py has the rest).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from write_model.personal import DEVELOPMENT_EMAIL_KEYS, EmailKeys
from write_model.scrub import Scrubber
from write_model.sealing import SEALED_TABLES, seal_stored
from write_model.writer import GroupCommitWriter, SessionGroupWriter, Writer

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x53544F5245  # any fixed bigint; "STORE" in ASCII

SQLITE_BUSY_TIMEOUT_S = 30.0
SERVER_CONNECT_TIMEOUT_S = 10.0
AIOSQLITE_THREAD_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Database:
    """`commands` runs the commands' units of work; `writer` runs migrations and the consumers'
    checkpoints and leases; `reader` serves outbox tails and status reads. `email_keys` hashes
    emails for their uniqueness; `scrubber` overwrites what erased rows left on disk.

    `thread_reader` (SQLite) is the same file through the stdlib driver, for reads run whole on a
    worker thread: aiosqlite takes a trip through the event loop per statement, and under load
    each waits behind the requests (8 of them made half of a sync pass at 200 mutations/s, W3)."""

    commands: Writer
    writer: AsyncEngine
    reader: AsyncEngine
    email_keys: EmailKeys
    scrubber: Scrubber
    thread_reader: Engine | None = None

    async def dispose(self) -> None:
        """Stops the command writer's thread (after the commands it holds) and closes the engines."""
        await self.scrubber.close()
        await self.commands.close()
        await self.writer.dispose()
        await self.reader.dispose()
        if self.thread_reader is not None:
            self.thread_reader.dispose()


async def join_connection_threads() -> None:
    """Wait for the threads of SQLite connections to end; call it once every engine of the
    process is disposed (a command line ending), else it waits out their timeouts.

    aiosqlite (0.22) stops the thread of a connection that failed to open by queueing a stop
    whose answer it posts to the event loop; were the loop closed first, the thread would print
    a traceback under the command's one-line error."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):  # threading names it after its target
            await asyncio.to_thread(thread.join, AIOSQLITE_THREAD_JOIN_TIMEOUT_S)


def open_database(url: str, *, write_group_max: int = 64, write_group_wait_s: float = 0.0,
                  email_keys: EmailKeys = DEVELOPMENT_EMAIL_KEYS) -> Database:
    """Build engines and the command writer (nothing connects until first use, so migrations
    run before the writer's thread starts)."""
    if make_url(url).get_backend_name() != "sqlite":
        # Each transaction locks the outbox head row until it commits, so the server commits one
        # at a time whatever the number of connections: one connection runs the process's
        # commands, several a transaction (bench/README.md, P1). The other engines ping their
        # connections before use, so that a pool kept across a server restart reconnects; the
        # command writer runs a group that found its connection lost again instead.
        writer = _server_engine(url)
        commands: Writer = SessionGroupWriter(_server_engine(url, pre_ping=False, pool_size=1, max_overflow=0),
                                              group_max=write_group_max, email_keys=email_keys)
        return Database(commands=commands, writer=writer, reader=_server_engine(url), email_keys=email_keys,
                        scrubber=Scrubber(url, writer))
    # SQLite runs one write transaction at a time anyway: one thread with one connection runs
    # every command of the process, several a transaction, instead of queueing them in SQLite's
    # busy handler, whose sleeps made the slowest commands wait seconds (see bench/README.md, W1).
    commands = GroupCommitWriter(
        _sqlite_thread_engine(url, "BEGIN IMMEDIATE", pool_size=1, max_overflow=0),
        group_max=write_group_max, group_wait_s=write_group_wait_s, email_keys=email_keys,
    )
    writer = _sqlite_engine(url, "BEGIN IMMEDIATE", pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_S)
    return Database(commands=commands, writer=writer, reader=_sqlite_engine(url, "BEGIN"), email_keys=email_keys,
                    scrubber=Scrubber(url, writer), thread_reader=_sqlite_thread_engine(url, "BEGIN"))


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# Events' payloads and orders' lines through orjson, both ways: the worker decodes every payload
# it indexes and each command encodes its events' (bench/README.md, B1 and W2). The payloads are
# the handlers' own dicts of strings, numbers and lists, which orjson encodes as json would.
_JSON_COLUMNS: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def _server_engine(url: str, *, pre_ping: bool = True, **pool: Any) -> AsyncEngine:
    # A server that does not answer fails a connection attempt in seconds, not asyncpg's minute.
    return create_async_engine(url, pool_pre_ping=pre_ping, connect_args={"timeout": SERVER_CONNECT_TIMEOUT_S},
                               **_JSON_COLUMNS, **pool)


def _sqlite_thread_engine(url: str, begin_statement: str, **pool: Any) -> Engine:
    """The same file through the stdlib sqlite3 driver, for threads other than the event loop's
    (the command writer's, and reads run whole on one)."""
    engine = create_engine(
        make_url(url).set(drivername="sqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **_JSON_COLUMNS,
        **pool,
    )
    _configure_sqlite(engine, begin_statement)
    return engine


def _sqlite_engine(url: str, begin_statement: str, **pool: Any) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **_JSON_COLUMNS, **pool)
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
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)


async def create_schema(database: Database) -> None:
    """Apply every pending migration; safe to run on every start and from several processes:
    the upgrade is one transaction, which on SQLite the writer's BEGIN IMMEDIATE serializes and
    on PostgreSQL an advisory lock held until it commits (DDL alone would race on the first
    CREATE TABLE, whose name clash PostgreSQL reports as a unique violation). Then data stored
    before personal data was sealed is sealed (write_model/sealing.py), and the earlier versions
    of the rows that rewrote scrubbed."""
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade)
        sealed = await connection.run_sync(seal_stored, database.email_keys)
    if sealed:
        await database.scrubber.scrub(SEALED_TABLES)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    with connection.begin():  # Alembic runs inside it (it begins no transaction of its own then)
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        command.upgrade(config, "head")
