"""A unit of work: one command's changes and events, stored together in one transaction."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlmodel import Session

from write_model.events import NewEvent
from write_model.outbox_writer import OutboxWriter, TransactionOutbox
from write_model.personal import EmailKeys
from write_model.repositories import (
    ConsumerBookkeeping,
    CustomerKeys,
    Customers,
    IdempotencyKeys,
    IdempotencyRecord,
    Orders,
    Products,
)
from write_model.results import Accepted


class UnitOfWork:
    """Opened per command by a writer (write_model/writer.py), in the transaction it runs in:
    beside the other units of its group, or in a savepoint of its own when the group runs again.
    Handlers load and add aggregates through `products`, `customers` and `orders`, record their
    events on `outbox`, and call `commit()`; the writer commits the transaction. The outbox's
    consumers keep their checkpoints and leases through `consumers`. Customers' keys (`keys`)
    seal the events' personal fields; `email_keys` hashes emails for their uniqueness.

    Leaving the block by an exception undoes this unit's changes alone (in a group, by running
    the group again, the unit in a savepoint).
    """

    def __init__(self, session: Session, email_keys: EmailKeys, connection: Connection,
                 transaction: TransactionOutbox | None = None) -> None:
        """`connection` is the session's: a writer looks it up once per group, not per unit.
        `transaction` is the outbox of the writer's transaction, which writes the events of all
        its units before it commits; a unit opened without one writes its own on `commit()`."""
        self._session = session
        self._transaction = TransactionOutbox(connection) if transaction is None else transaction
        self._writes_own_events = transaction is None
        self.products = Products(session, connection)
        self.keys = CustomerKeys(connection)
        self.customers = Customers(session, connection, self.keys)
        self.orders = Orders(session, connection)
        self.idempotency_keys = IdempotencyKeys(connection, self._transaction.results)
        self.email_keys = email_keys
        self.outbox = OutboxWriter(self._transaction, self.keys.cipher)
        self.consumers = ConsumerBookkeeping(session)
        self._key: tuple[str, str] | None = None

    def remember_result_under(self, key: str, fingerprint: str) -> None:
        """On commit, store the command's result under this idempotency key, in the same transaction."""
        self._key = (key, fingerprint)

    def commit(self) -> int:
        """Write the changes and the idempotency record, and append the recorded events; returns
        the position of the last event. They are durable once the writer commits the transaction."""
        self._session.flush()
        last = self.outbox.last
        position = self.outbox.append()
        if self._writes_own_events:
            self._transaction.write()
        if self._key is not None:
            key, fingerprint = self._key
            self.idempotency_keys.add(key, IdempotencyRecord(fingerprint, _result(last, position)))
        return position


def _result(last: NewEvent | None, position: int) -> Accepted:
    """The handler's answer, read off its last event (see `Accepted`)."""
    if last is None:
        raise RuntimeError("a command run under an idempotency key recorded no event")
    return Accepted(last.stream_id, last.stream_version, position)
