"""The one-off sealing of what was stored before personal data was sealed (migration 0006).

First every customer gets a key and the keyed hash of their email, then every event up to the
head the migration saw has its personal fields sealed (write_model/personal.py). It goes batch by
batch, each batch in a transaction of its own that also records how far it got, so a run that is
interrupted resumes where it stopped, and concurrent runs take turns (the progress row is locked).
Once done, a run reads one row. Events written since the migration are sealed when written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlmodel import SQLModel

from write_model.personal import EmailKeys, new_key, owners, seal
from write_model.repositories import ciphers_of, keys_of
from write_model.tables import CustomerKeyRow, CustomerRow, OutboxRow, SealingProgressRow, utc_now

BATCH_SIZE = 500
# The tables whose rows it rewrote: their earlier versions are what a scrub removes.
SEALED_TABLES = (CustomerRow.__tablename__, OutboxRow.__tablename__)

_PROGRESS = SQLModel.metadata.tables[SealingProgressRow.__tablename__]
_CUSTOMERS = SQLModel.metadata.tables[CustomerRow.__tablename__]
_KEYS = SQLModel.metadata.tables[CustomerKeyRow.__tablename__]
_OUTBOX = SQLModel.metadata.tables[OutboxRow.__tablename__]


def seal_stored(connection: Connection, email_keys: EmailKeys, batch_size: int = BATCH_SIZE) -> bool:
    """Seal everything stored before sealing, to the end; returns whether anything was left to do."""
    worked = False
    while seal_batch(connection, email_keys, batch_size):
        worked = True
    return worked


def seal_batch(connection: Connection, email_keys: EmailKeys, batch_size: int = BATCH_SIZE) -> bool:
    """One batch in a transaction of its own; False when nothing was left to do."""
    with connection.begin():
        progress = connection.execute(select(_PROGRESS).with_for_update()).one_or_none()
        if progress is None:  # no migration has run this far
            return False
        if not progress.customers_done:
            done = _customers(connection, email_keys, batch_size) < batch_size
            connection.execute(update(_PROGRESS).values(customers_done=done))
            return True
        if progress.position < progress.until:
            position = _events(connection, progress.position, progress.until, batch_size)
            connection.execute(update(_PROGRESS).values(position=position))
            return True
        return False


def _customers(connection: Connection, email_keys: EmailKeys, batch_size: int) -> int:
    """Keys and email hashes for a batch of customers who have no hash yet; returns how many."""
    rows = connection.execute(
        select(_CUSTOMERS.c.id, _CUSTOMERS.c.email)
        .where(_CUSTOMERS.c.email_key.is_(None), _CUSTOMERS.c.erased_at.is_(None))
        .order_by(_CUSTOMERS.c.id).limit(batch_size)
    ).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    keyed = set(connection.execute(select(_KEYS.c.customer_id).where(_KEYS.c.customer_id.in_(ids))).scalars())
    now = utc_now()
    unkeyed = [{"customer_id": row.id, "key": new_key(), "created_at": now} for row in rows if row.id not in keyed]
    if unkeyed:
        connection.execute(insert(_KEYS), unkeyed)
    connection.execute(
        update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("row_id")).values(email_key=bindparam("hashed")),
        [{"row_id": row.id, "hashed": email_keys(row.email)} for row in rows],
    )
    return len(rows)


def _events(connection: Connection, after: int, until: int, batch_size: int) -> int:
    """Seal a batch of events after `after`, up to `until`; returns the last position done."""
    rows = connection.execute(
        select(_OUTBOX.c.position, _OUTBOX.c.stream_type, _OUTBOX.c.payload)
        .where(_OUTBOX.c.position > after, _OUTBOX.c.position <= until)
        .order_by(_OUTBOX.c.position).limit(batch_size)
    ).all()
    if not rows:
        return until
    ciphers = _ciphers(connection, rows)
    sealed = [{"at": row.position, "sealed": seal(row.stream_type, row.payload, ciphers.get)} for row in rows]
    changed = [item for item, row in zip(sealed, rows, strict=True) if item["sealed"] is not row.payload]
    if changed:
        connection.execute(
            update(_OUTBOX).where(_OUTBOX.c.position == bindparam("at")).values(payload=bindparam("sealed")), changed
        )
    last: int = rows[-1].position
    return last


def _ciphers(connection: Connection, rows: Sequence[Row[Any, Any, Any]]) -> dict[str, AESGCM]:
    customer_ids = {owner for row in rows for owner in owners(row.stream_type, row.payload)}
    return ciphers_of(connection.execute(keys_of(customer_ids))) if customer_ids else {}
