"""After personal data is erased from rows, the bytes it took on disk: overwritten, not merely freed.

SQLite runs with `secure_delete` (database.py), which zeroes what a change frees in the pages it
writes; but the write-ahead log still holds every earlier image of those pages until a
checkpoint copies the new ones into the file and truncates it. PostgreSQL keeps an updated or
deleted row as a dead tuple until VACUUM removes it: an erasure schedules one for the tables it
changed, in the background, since it may take a while on large tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from write_model.tables import CustomerKeyRow, CustomerRow

log = logging.getLogger(__name__)

# What an erasure changes: the customer's row (personal columns blanked) and their key (deleted).
ERASED_TABLES = (CustomerRow.__tablename__, CustomerKeyRow.__tablename__)
SQLITE_CHECKPOINT_TIMEOUT_S = 30.0
# How long closing waits for a VACUUM under way before it stops it.
CLOSE_GRACE_S = 10.0


class Coalesced:
    """Runs `work` in the background when asked, one run at a time: asks that come while it runs
    make one more run after it, so whatever they asked for is covered. A failed run is logged."""

    def __init__(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        self._work = work
        self._what = what
        self._due = False
        self._task: asyncio.Task[None] | None = None

    def ask(self) -> None:
        self._due = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self, grace_s: float) -> None:
        """Let a run in progress end within `grace_s`, else stop it; no further run starts. What it
        did not finish is left to the next one (or the database's own upkeep)."""
        self._due = False
        if self._task is None:
            return
        await asyncio.wait([self._task], timeout=grace_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while self._due:
            self._due = False
            try:
                await self._work()
            except Exception:  # the database away, say: the next ask tries again
                log.warning("%s failed", self._what, exc_info=True)


class Scrubber:
    """Overwrites what erased rows left on disk, for the write model at `url` (`engine` writes to it)."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        parsed = make_url(url)
        self._sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self._engine = engine
        self._vacuum = Coalesced(lambda: self.scrub(ERASED_TABLES), "VACUUM after an erasure")

    async def erased(self) -> None:
        """After an erasure committed. On SQLite returns once the log file is truncated; on
        PostgreSQL schedules the VACUUM."""
        if self._sqlite_file is None:
            self._vacuum.ask()
            return
        try:
            await self.scrub(ERASED_TABLES)
        except sqlite3.Error:  # the erasure stands; the next one's checkpoint covers it too
            log.warning("the write-ahead log could not be checkpointed after an erasure", exc_info=True)

    async def scrub(self, tables: Sequence[str]) -> None:
        """Now: on SQLite a checkpoint that truncates the write-ahead log, on PostgreSQL VACUUM `tables`."""
        if self._sqlite_file is not None:
            await asyncio.to_thread(_truncate_log, self._sqlite_file)
            return
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs alone
            await autocommit.exec_driver_sql(f"VACUUM {', '.join(tables)}")

    async def close(self) -> None:
        await self._vacuum.close(CLOSE_GRACE_S)


def _truncate_log(path: str) -> None:
    """Copy every page of the write-ahead log into the database file and truncate the log to zero
    bytes. It waits (SQLite's busy handler) for the writer and for readers of older snapshots."""
    with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_CHECKPOINT_TIMEOUT_S, isolation_level=None)) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.warning("the write-ahead log of %s could not be truncated (busy); the next erasure tries again", path)
