"""Appending commands' events to the outbox, in their own transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlmodel import SQLModel

from write_model.events import NewEvent
from write_model.personal import Ciphers, seal
from write_model.repositories import IdempotencyKeys, IdempotencyRecord
from write_model.results import Accepted
from write_model.statements import Prepared
from write_model.tables import OutboxHeadRow, OutboxRow, utc_now

T = TypeVar("T")

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
# Moving the head locks its row as the read FOR UPDATE does, and says where it now stands.
_ADVANCE_HEAD = Prepared(update(_HEAD).values(position=_HEAD.c.position + bindparam("count"))
                         .returning(_HEAD.c.position))
_PEEK_HEAD = Prepared(select(_HEAD.c.position))


class Pending(int):
    """A position handed out by a transaction that does not hold the outbox head yet: how many of
    its events come up to it (0: none). `TransactionOutbox.resolve` turns an answer's pending
    position into the one it got, once `write()` has given the events theirs."""


class TransactionOutbox:
    """The events of one transaction, which may hold several units of work (a writer's group).

    Positions are handed out from the head, read once; the rows and the new head are written
    once, by `write()` just before the transaction commits: two statements a transaction rather
    than two a command. A unit that fails gives its positions back with `rewind`, so the
    positions stay gap-free.

    A `deferred` outbox takes the head only in `write()`, so that on PostgreSQL its row is locked
    for the last statements of the transaction rather than all of them (concurrent transactions
    wait there for each other's commit): until then it hands out `Pending` positions, and keeps
    the idempotency records that hold them (`results`), to store them with the events. A deferred
    outbox never rewinds: its writer rolls the whole transaction back when a unit fails."""

    def __init__(self, connection: Connection, *, deferred: bool = False) -> None:
        self._connection = connection
        self._head: int | None = None
        self._rows: list[dict[str, Any]] = []  # not written yet; the head moves only with them
        self.results: dict[str, IdempotencyRecord] | None = {} if deferred else None
        self._base: int | None = None  # deferred: the head before this transaction's events, once written

    def lock(self) -> None:
        """Read the head now: on PostgreSQL its row is then locked before anything else the
        transaction changes, so two transactions never each hold a row the other waits for."""
        _ = self.head

    @property
    def head(self) -> int:
        """The last position handed out (or stored)."""
        if self.results is not None:
            return Pending(len(self._rows))
        if self._head is None:
            [(self._head,)] = _READ_HEAD.rows(self._connection)
        return self._head

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Give the rows the next positions; returns the last."""
        if self.results is not None:
            self._rows += rows
            return Pending(len(self._rows))
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
        if self.results is not None:
            self._write_deferred(self.results)
        elif self._rows:
            _INSERT_EVENTS.execute_many(self._connection, self._rows)
            _MOVE_HEAD.execute(self._connection, {"head": self._head})
            self._rows = []

    def _write_deferred(self, results: dict[str, IdempotencyRecord]) -> None:
        """On PostgreSQL the head's row stays locked from here to the commit: the events take
        their positions in commit order, without gaps, and no other row is locked after it."""
        if self._rows:
            [(head,)] = _ADVANCE_HEAD.rows(self._connection, {"count": len(self._rows)})
            self._base = head - len(self._rows)
            for position, row in enumerate(self._rows, start=self._base + 1):
                row["position"] = position
            _INSERT_EVENTS.execute_many(self._connection, self._rows)
            self._rows = []
        else:  # answers may still hold the head as it stands
            [(self._base,)] = _PEEK_HEAD.rows(self._connection)
        IdempotencyKeys.store(self._connection, {key: IdempotencyRecord(record.fingerprint, self.resolve(record.result))
                                                 for key, record in results.items()})
        results.clear()

    def resolve(self, answer: T) -> T:
        """The answer with its pending position, if it holds one, replaced by the one it got."""
        if isinstance(answer, Accepted) and isinstance(answer.position, Pending):
            if self._base is None:
                raise RuntimeError("a pending position is resolved only once its events are written")
            return cast(T, replace(answer, position=self._base + answer.position))
        return answer


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
