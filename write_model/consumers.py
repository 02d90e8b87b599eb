"""Bookkeeping of outbox consumers: how far they got (tracking), who may run (leases) and what
they gave up on (dead letters)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, update
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.database import Database
from write_model.tables import ConsumerCheckpointRow, ConsumerLeaseRow, DeadLetterRow, as_utc, utc_now
from write_model.unit_of_work import UnitOfWork
from write_model.writer import UnitsOfWork

T = TypeVar("T")


def _in_unit(work: Callable[[UnitOfWork], T], units: UnitsOfWork) -> T:
    """A job for the command writer (write_model/writer.py): `work` in a unit of work of its own."""
    with units() as uow:
        return work(uow)


class Lease:
    """A time-bound lease on a consumer name, held by `owner` while it keeps renewing it.

    Another party can ask for it (`take_over`): the holder hands it over at its next renewal,
    that is between two batches, so nothing the holder started is still in flight.
    """

    def __init__(self, database: Database, consumer: str, owner: str, ttl: timedelta) -> None:
        self._database = database
        self._consumer = consumer
        self.owner = owner
        self._ttl = ttl

    async def acquire_or_renew(self) -> bool:
        """Extend the lease if it is ours and nobody asked for it; take it if it is free or
        expired. False if another holds it, or if we just handed it to whoever asked."""
        return await self._database.commands.run(
            functools.partial(_in_unit, lambda uow: uow.consumers.acquire_or_renew_lease(
                self._consumer, self.owner, self._ttl)))

    # The deadline is checked between polls, not by cancelling: a timeout never interrupts a
    # transaction midway, and its error names the lease.
    async def take_over(self, timeout: timedelta) -> None:  # noqa: ASYNC109
        """Ask the holder for the lease and wait until it is ours."""
        deadline = utc_now() + timeout
        while not await self.acquire_or_renew():
            async with AsyncSession(self._database.writer) as session:
                await self._update(session, (col(ConsumerLeaseRow.name) == self._consumer)
                                   & (col(ConsumerLeaseRow.owner) != self.owner), wanted_by=self.owner)
                await session.commit()
            if utc_now() > deadline:
                raise TimeoutError(f"the {self._consumer!r} lease was not handed over within {timeout}")
            await asyncio.sleep(0.05)

    async def _update(self, session: AsyncSession, condition: Any, **values: Any) -> bool:
        result = await session.exec(update(ConsumerLeaseRow).where(condition).values(**values))
        return bool(result.rowcount)

    async def release(self) -> None:
        """Give the lease up at once, so another worker need not wait for it to expire."""
        async with AsyncSession(self._database.writer) as session:
            await session.exec(
                delete(ConsumerLeaseRow).where(
                    col(ConsumerLeaseRow.name) == self._consumer, col(ConsumerLeaseRow.owner) == self.owner
                )
            )
            await session.commit()

    async def holder(self) -> tuple[str, datetime] | None:
        async with AsyncSession(self._database.reader) as session:
            row = await session.get(ConsumerLeaseRow, self._consumer)
            return (row.owner, as_utc(row.expires_at)) if row else None


class Tracking:
    """One consumer of the outbox, by name: the position up to which it has handled every event,
    and the leases under which one process at a time moves that position on (in the spirit of
    pyeventsourcing's `Tracking`, a name and a position, rather than a name passed by hand)."""

    def __init__(self, database: Database, consumer: str) -> None:
        self._database = database
        self.consumer = consumer

    async def position(self) -> int:
        """The durable checkpoint (0 before the consumer saved one)."""
        async with AsyncSession(self._database.reader) as session:
            row = await session.get(ConsumerCheckpointRow, self.consumer)
            return row.position if row else 0

    async def record(self, position: int) -> None:
        """Move the checkpoint forward; never back, so a worker that lost its lease mid-batch
        cannot undo a newer worker's progress. Durable when this returns."""
        await self._database.commands.run(
            functools.partial(_in_unit, lambda uow: uow.consumers.advance_checkpoint(self.consumer, position)))

    async def rewind(self, position: int = 0) -> None:
        """Replay from `position` (operators and tests): documents never go backwards on replay."""
        async with AsyncSession(self._database.writer) as session:
            row = await session.get(ConsumerCheckpointRow, self.consumer)
            if row is not None:
                row.position = position
                row.updated_at = utc_now()
                session.add(row)
                await session.commit()

    def lease(self, owner: str, ttl: timedelta) -> Lease:
        """The lease on this consumer, as `owner` would hold it."""
        return Lease(self._database, self.consumer, owner, ttl)

    def dead_letters(self) -> DeadLetters:
        """What this consumer parked."""
        return DeadLetters(self._database, self.consumer)


@dataclass(frozen=True)
class Parcel:
    """What to park: the event's position and the operation Elasticsearch refused."""

    position: int
    event_type: str
    stream_id: str
    index_name: str
    document_id: str
    error: str
    attempts: int


@dataclass(frozen=True)
class DeadLetter(Parcel):
    """A parked operation, as listed and retried."""

    id: int
    parked_at: datetime


class DeadLetters:
    def __init__(self, database: Database, consumer: str) -> None:
        self._database = database
        self._consumer = consumer

    async def park(self, parcels: list[Parcel]) -> None:
        async with AsyncSession(self._database.writer) as session:
            now = utc_now()
            for parcel in parcels:
                session.add(DeadLetterRow(consumer=self._consumer, parked_at=now, **vars(parcel)))
            await session.commit()

    async def count(self) -> int:
        async with AsyncSession(self._database.reader) as session:
            result = await session.exec(
                select(func.count()).select_from(DeadLetterRow).where(DeadLetterRow.consumer == self._consumer)
            )
            return result.one()

    async def list(self, ids: list[int] | None = None) -> list[DeadLetter]:
        """Parked letters in position order; only `ids` when given."""
        query = select(DeadLetterRow).where(DeadLetterRow.consumer == self._consumer)
        if ids is not None:
            query = query.where(col(DeadLetterRow.id).in_(ids))
        async with AsyncSession(self._database.reader) as session:
            rows = await session.exec(query.order_by(col(DeadLetterRow.position), col(DeadLetterRow.id)))
            return [_letter(row) for row in rows]

    async def resolve(self, letter_id: int) -> None:
        async with AsyncSession(self._database.writer) as session:
            await session.exec(delete(DeadLetterRow).where(col(DeadLetterRow.id) == letter_id))
            await session.commit()

    async def record_failure(self, letter_id: int, error: str) -> None:
        async with AsyncSession(self._database.writer) as session:
            await session.exec(
                update(DeadLetterRow)
                .where(col(DeadLetterRow.id) == letter_id)
                .values(error=error, attempts=DeadLetterRow.attempts + 1)
            )
            await session.commit()


def _letter(row: DeadLetterRow) -> DeadLetter:
    assert row.id is not None
    return DeadLetter(position=row.position, event_type=row.event_type, stream_id=row.stream_id,
                      index_name=row.index_name, document_id=row.document_id, error=row.error, attempts=row.attempts,
                      id=row.id, parked_at=as_utc(row.parked_at))
