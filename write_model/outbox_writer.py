"""Appending a command's events to the outbox, in the command's own transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.events import NewEvent
from write_model.tables import OutboxHeadRow, OutboxRow, utc_now


class OutboxWriter:
    """Collects the events a handler records; `append()` gives them their positions."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._events: list[NewEvent] = []

    def record(self, event: NewEvent) -> None:
        self._events.append(event)

    @property
    def last(self) -> NewEvent | None:
        """The latest event recorded and not yet appended."""
        return self._events[-1] if self._events else None

    async def append(self) -> int:
        """Add the recorded events to the transaction; returns the last one's position
        (the head as it stands when nothing was recorded)."""
        head = await self._reserve_positions(len(self._events))
        first = head - len(self._events) + 1
        now = utc_now()
        for offset, event in enumerate(self._events):
            self._session.add(
                OutboxRow(
                    position=first + offset,
                    event_id=str(uuid.uuid4()),
                    stream_type=event.stream_type,
                    stream_id=event.stream_id,
                    stream_version=event.stream_version,
                    event_type=event.event_type,
                    payload=event.payload,
                    occurred_at=now,
                )
            )
        self._events.clear()
        return head

    async def _reserve_positions(self, count: int) -> int:
        # Increment before reading: on PostgreSQL the UPDATE row-locks the head until this
        # transaction ends, so concurrent commands take their positions one after another, in
        # commit order and without gaps (SQLite's BEGIN IMMEDIATE serializes writers anyway).
        await self._session.exec(update(OutboxHeadRow).values(position=OutboxHeadRow.position + count))
        head = await self._session.exec(select(OutboxHeadRow.position))
        return head.one()
