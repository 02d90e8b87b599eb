"""The storage limit (W1, W3's baseline): the rows of one `createProduct` (product row, outbox head
bump, outbox row) written with Python's plain `sqlite3` on one connection, WAL and
synchronous=NORMAL as the write model sets them; and counting what a server really wrote."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from write_model import events
from write_model.database import create_schema, open_database
from write_model.money import from_minor_units

_INSERT_PRODUCT = ("INSERT INTO products (id, sku, name, description, category, tags, price, stock, status, version, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)")
_BUMP_HEAD = "UPDATE outbox_head SET position = position + 1 RETURNING position"
_INSERT_EVENT = ("INSERT INTO outbox (position, event_id, stream_type, stream_id, stream_version, event_type, payload, "
                 "occurred_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)")


def database_path(database_url: str) -> Path:
    """The file of a `sqlite+aiosqlite:///...` URL."""
    name = make_url(database_url).database
    if not name:
        raise ValueError(f"not a SQLite file URL: {database_url}")
    return Path(name)


def row_count(path: Path, table: str) -> int:
    """Rows in a table of the write model's file (a reader beside the server: WAL lets it)."""
    with closing(sqlite3.connect(path)) as connection:
        count: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return count


class RawWriter:
    """The write model's schema on a fresh file, written with bare statements."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._connection.execute(f"PRAGMA {pragma}")

    @classmethod
    async def create(cls, database_url: str) -> RawWriter:
        database = open_database(database_url)  # the migrations make the tables, as for the server
        try:
            await create_schema(database)
        finally:
            await database.dispose()
        return cls(database_path(database_url))

    def command(self, state: dict[str, Any]) -> None:
        """One command, one transaction."""
        with self._transaction():
            self._write(state)

    def batch(self, states: Sequence[dict[str, Any]]) -> None:
        """Several commands in one transaction, each in its own savepoint, as a batching writer
        would keep one command's failure from undoing the others."""
        with self._transaction():
            for state in states:
                self._connection.execute("SAVEPOINT command")
                self._write(state)
                self._connection.execute("RELEASE command")

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def _write(self, state: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat(sep=" ")
        execute = self._connection.execute
        execute(_INSERT_PRODUCT, (state["id"], state["sku"], state["name"], state["description"], state["category"],
                                  json.dumps(state["tags"]), from_minor_units(state["priceMinor"]), state["stock"],
                                  state["status"], now, now))
        position = execute(_BUMP_HEAD).fetchone()[0]
        execute(_INSERT_EVENT, (position, state["id"] + "-created", events.PRODUCT, state["id"],
                                events.PRODUCT_CREATED, json.dumps(state), now))


async def raw_rate(database_url: str, states: Sequence[dict[str, Any]], per_transaction: int,
                   time_limit_s: float) -> tuple[int, float]:
    """(commands written, seconds) for the states on a fresh file, `per_transaction` commands to a
    transaction, stopping early at the time limit. Runs in a thread: the loop stays free."""
    writer = await RawWriter.create(database_url)

    def write_all() -> tuple[int, float]:
        started = time.perf_counter()
        done = 0
        while done < len(states) and time.perf_counter() - started < time_limit_s:
            chunk = states[done:done + per_transaction]
            if per_transaction == 1:
                writer.command(chunk[0])
            else:
                writer.batch(chunk)
            done += len(chunk)
        return done, time.perf_counter() - started

    try:
        return await asyncio.to_thread(write_all)
    finally:
        writer.close()
