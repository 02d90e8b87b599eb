"""Reading the outbox in position order (consumers track how far they got in `consumers.Tracking`).

Events come back with their personal fields unsealed with their customers' keys, read in the
same transaction as the events; an erased customer's read as erased (write_model/personal.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.database import Database
from write_model.events import StoredEvent
from write_model.personal import Ciphers, owners, unseal
from write_model.repositories import ciphers_of, keys_of
from write_model.tables import OutboxHeadRow, OutboxRow, as_utc
from write_model.upcasting import upcast

# Ids per IN list: well inside every database's limit on bound parameters.
_IDS_PER_QUERY = 1000
_EVENTS = OutboxRow.__table__  # type: ignore[attr-defined]


class Outbox:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def head(self) -> int:
        """Position of the newest committed event (0 when there is none)."""
        async with AsyncSession(self._database.reader) as session:
            result = await session.exec(select(OutboxHeadRow.position))
            return result.first() or 0

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        # Plain rows, not ORM instances: a quarter of the CPU on the worker's hot path.
        return await self._read([select(_EVENTS).where(col(OutboxRow.position) > position)
                                 .order_by(col(OutboxRow.position)).limit(limit)])

    async def read_at(self, positions: list[int]) -> list[StoredEvent]:
        return await self._read([select(_EVENTS).where(col(OutboxRow.position).in_(chunk))
                                 for chunk in _chunks(positions)])

    async def read_streams(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        """Every event of these streams, in position order."""
        return await self._read([select(_EVENTS).where(col(OutboxRow.stream_id).in_(chunk))
                                 for chunk in _chunks(stream_ids)])

    async def _read(self, queries: list[Select[Any]]) -> list[StoredEvent]:
        """The rows of the queries in position order, unsealed, all read in one transaction."""
        thread_reader = self._database.thread_reader
        if thread_reader is not None:
            return await asyncio.to_thread(_read_in_thread, thread_reader, queries)
        async with self._database.reader.connect() as connection:
            return await connection.run_sync(_read_on, queries)


def _read_in_thread(engine: Engine, queries: list[Select[Any]]) -> list[StoredEvent]:
    with engine.connect() as connection:
        return _read_on(connection, queries)


def _read_on(connection: Connection, queries: list[Select[Any]]) -> list[StoredEvent]:
    rows = [row for query in queries for row in connection.execute(query)]
    if len(queries) > 1:
        rows.sort(key=lambda row: row.position)
    customer_ids = list({owner for row in rows for owner in owners(row.stream_type, row.payload)})
    found = {}
    for chunk in _chunks(customer_ids):
        found.update(ciphers_of(connection.execute(keys_of(chunk))))
    return [_stored(row, found.get) for row in rows]


def _chunks(ids: Sequence[Any]) -> list[Sequence[Any]]:
    return [ids[start:start + _IDS_PER_QUERY] for start in range(0, len(ids), _IDS_PER_QUERY)]


def _stored(row: Row[Any], ciphers: Ciphers) -> StoredEvent:
    return StoredEvent(
        position=row.position,
        event_id=row.event_id,
        stream_type=row.stream_type,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        event_type=row.event_type,
        payload=upcast(row.stream_type, unseal(row.stream_type, row.payload, ciphers)),
        occurred_at=as_utc(row.occurred_at),
    )
