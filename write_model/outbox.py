"""Reading the outbox in position order, and consumers' durable checkpoints."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.database import Database
from write_model.events import StoredEvent
from write_model.tables import ConsumerCheckpointRow, OutboxHeadRow, OutboxRow, as_utc, utc_now


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

    async def checkpoint(self, consumer: str) -> int:
        async with AsyncSession(self._database.reader) as session:
            row = await session.get(ConsumerCheckpointRow, consumer)
            return row.position if row else 0

    async def save_checkpoint(self, consumer: str, position: int) -> None:
        """Move the checkpoint forward; never back, so a worker that lost its lease mid-batch
        cannot undo a newer worker's progress."""
        async with AsyncSession(self._database.writer) as session:
            row = await session.get(ConsumerCheckpointRow, consumer)
            if row is None:
                row = ConsumerCheckpointRow(name=consumer, position=position, updated_at=utc_now())
            elif row.position >= position:
                return
            row.position = position
            row.updated_at = utc_now()
            session.add(row)
            await session.commit()

    async def reset_checkpoint(self, consumer: str, position: int = 0) -> None:
        """Replay from `position` (operators and tests): documents never go backwards on replay."""
        async with AsyncSession(self._database.writer) as session:
            row = await session.get(ConsumerCheckpointRow, consumer)
            if row is not None:
                row.position = position
                row.updated_at = utc_now()
                session.add(row)
                await session.commit()

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
        payload=row.payload,
        occurred_at=as_utc(row.occurred_at),
    )
