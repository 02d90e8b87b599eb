"""Appending a command's events to the outbox, in the command's own transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Connection, bindparam, insert, update
from sqlmodel import SQLModel

from write_model.events import NewEvent
from write_model.personal import Ciphers, seal
from write_model.tables import OutboxHeadRow, OutboxRow, utc_now

# Core statements built once (their compiled form is cached): every command runs both.
_OUTBOX = SQLModel.metadata.tables[OutboxRow.__tablename__]
_HEAD = SQLModel.metadata.tables[OutboxHeadRow.__tablename__]
_INSERT_EVENTS = insert(_OUTBOX)
# Increment before reading: on PostgreSQL the UPDATE row-locks the head until this transaction
# ends, so concurrent commands take their positions one after another, in commit order and
# without gaps (SQLite runs one write transaction at a time anyway).
_RESERVE_POSITIONS = (
    update(_HEAD).values(position=_HEAD.c.position + bindparam("count", type_=BigInteger)).returning(_HEAD.c.position)
)


class OutboxWriter:
    """Collects the events a handler records; `append()` gives them their positions and stores them
    with their personal fields sealed under the `ciphers` of their customers."""

    def __init__(self, connection: Connection, ciphers: Ciphers) -> None:
        self._connection = connection
        self._ciphers = ciphers
        self._events: list[NewEvent] = []

    def record(self, event: NewEvent) -> None:
        self._events.append(event)

    @property
    def last(self) -> NewEvent | None:
        """The latest event recorded and not yet appended."""
        return self._events[-1] if self._events else None

    def append(self) -> int:
        """Write the recorded events; returns the last one's position (the head as it stands
        when nothing was recorded)."""
        connection = self._connection
        head: int = connection.execute(_RESERVE_POSITIONS, {"count": len(self._events)}).scalar_one()
        if self._events:
            first = head - len(self._events) + 1
            now = utc_now()
            rows = [
                {
                    "position": first + offset,
                    "event_id": str(uuid.uuid4()),
                    "stream_type": event.stream_type,
                    "stream_id": event.stream_id,
                    "stream_version": event.stream_version,
                    "event_type": event.event_type,
                    "payload": seal(event.stream_type, event.payload, self._ciphers),
                    "occurred_at": now,
                }
                for offset, event in enumerate(self._events)
            ]
            connection.execute(_INSERT_EVENTS, rows)
        self._events.clear()
        return head
