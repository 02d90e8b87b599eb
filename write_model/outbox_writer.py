"""Appending commands' events to the outbox, in their own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlmodel import SQLModel

from write_model.events import NewEvent
from write_model.personal import Ciphers, seal
from write_model.statements import Prepared
from write_model.tables import OutboxHeadRow, OutboxRow, utc_now

_OUTBOX = SQLModel.metadata.tables[OutboxRow.__tablename__]
_HEAD = SQLModel.metadata.tables[OutboxHeadRow.__tablename__]
_INSERT_EVENTS = Prepared(insert(_OUTBOX), ("position", "event_id", "stream_type", "stream_id", "stream_version",
                                            "event_type", "payload", "occurred_at"))
# The head is read FOR UPDATE: on PostgreSQL the row stays locked until the transaction ends, so
# concurrent transactions take their positions one after another, in commit order and without
# gaps. SQLite runs one write transaction at a time anyway (BEGIN IMMEDIATE takes its lock), and
# SQLAlchemy leaves the clause out there.
_READ_HEAD = Prepared(select(_HEAD.c.position).with_for_update())
_MOVE_HEAD = Prepared(update(_HEAD).values(position=bindparam("head")))


class TransactionOutbox:
    """The events of one transaction, which may hold several units of work (a writer's group).

    Positions are handed out from the head, read once; the rows and the new head are written
    once, by `write()` just before the transaction commits: two statements a transaction rather
    than two a command. A unit that fails gives its positions back with `rewind`, so the
    positions stay gap-free."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._head: int | None = None
        self._rows: list[dict[str, Any]] = []  # not written yet; the head moves only with them

    def lock(self) -> None:
        """Read the head now: on PostgreSQL its row is then locked before anything else the
        transaction changes, so two transactions never each hold a row the other waits for."""
        _ = self.head

    @property
    def head(self) -> int:
        """The last position handed out (or stored)."""
        if self._head is None:
            [(self._head,)] = _READ_HEAD.rows(self._connection)
        return self._head

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Give the rows the next positions; returns the last."""
        first = self.head + 1
        for offset, row in enumerate(rows):
            row["position"] = first + offset
        self._rows += rows
        self._head = first + len(rows) - 1
        return self._head

    def mark(self) -> tuple[int | None, int]:
        return self._head, len(self._rows)

    def rewind(self, mark: tuple[int | None, int]) -> None:
        """Forget what was added since `mark`: the unit that added it was rolled back."""
        self._head, kept = mark
        del self._rows[kept:]

    def write(self) -> None:
        if self._rows:
            _INSERT_EVENTS.execute_many(self._connection, self._rows)
            _MOVE_HEAD.execute(self._connection, {"head": self._head})
            self._rows = []


class OutboxWriter:
    """Collects the events a handler records; `append()` gives them their positions and hands them,
    with their personal fields sealed under the `ciphers` of their customers, to the transaction's
    outbox."""

    def __init__(self, transaction: TransactionOutbox, ciphers: Ciphers) -> None:
        self._transaction = transaction
        self._ciphers = ciphers
        self._events: list[NewEvent] = []

    def record(self, event: NewEvent) -> None:
        self._events.append(event)

    @property
    def last(self) -> NewEvent | None:
        """The latest event recorded and not yet appended."""
        return self._events[-1] if self._events else None

    def append(self) -> int:
        """Hand the recorded events on; returns the last one's position (the head as it stands
        when nothing was recorded)."""
        if not self._events:
            return self._transaction.head
        now = utc_now()
        rows = [
            {
                "event_id": str(uuid.uuid4()),
                "stream_type": event.stream_type,
                "stream_id": event.stream_id,
                "stream_version": event.stream_version,
                "event_type": event.event_type,
                "payload": seal(event.stream_type, event.payload, self._ciphers),
                "occurred_at": now,
            }
            for event in self._events
        ]
        self._events.clear()
        return self._transaction.add(rows)
