"""Reading the outbox in position order (consumers track how far they got in `consumers.Tracking`)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.database import Database
from write_model.events import StoredEvent
from write_model.tables import OutboxHeadRow, OutboxRow, as_utc
from write_model.upcasting import upcast


class Outbox:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def head(self) -> int:
        """Position of the newest committed event (0 when there is none)."""
        async with AsyncSession(self._database.reader) as session:
            result = await session.exec(select(OutboxHeadRow.position))
            return result.first() or 0

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        async with AsyncSession(self._database.reader) as session:
            rows = await session.exec(
                select(OutboxRow).where(OutboxRow.position > position).order_by(col(OutboxRow.position)).limit(limit)
            )
            return [_stored(row) for row in rows]

    async def read_at(self, positions: list[int]) -> list[StoredEvent]:
        async with AsyncSession(self._database.reader) as session:
            rows = await session.exec(
                select(OutboxRow).where(col(OutboxRow.position).in_(positions)).order_by(col(OutboxRow.position))
            )
            return [_stored(row) for row in rows]


def _stored(row: OutboxRow) -> StoredEvent:
    return StoredEvent(
        position=row.position,
        event_id=row.event_id,
        stream_type=row.stream_type,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        event_type=row.event_type,
        payload=upcast(row.stream_type, row.payload),
        occurred_at=as_utc(row.occurred_at),
    )
