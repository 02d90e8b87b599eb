"""Never skip an event on PostgreSQL, where commands commit concurrently.

A tailer that reads `position > checkpoint` skips an event forever if a later position becomes
visible before it commits. Positions come from the outbox head row, row-locked by the transaction
that takes them until it commits (write_model/outbox_writer.py): so while one transaction holds a
position, later commands' group waits for it rather than commit past it, and the worker never
sees a gap. Under a sequence-numbered outbox the later commands would commit at once, the worker would
index them and move its checkpoint past the held position, and the held event would never be
indexed: both halves of this test would fail.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from server.bootstrap import Container
from tests.support import drain, indexed_products, wait_until
from write_model.bus import HANDLERS
from write_model.commands import CreateProduct
from write_model.personal import DEVELOPMENT_EMAIL_KEYS
from write_model.results import Accepted
from write_model.unit_of_work import UnitOfWork

LATER_COMMANDS = 3
WAIT_S = 30


def _create(sku: str) -> CreateProduct:
    return CreateProduct(sku=sku, name=f"Product {sku}", category="c", price=Decimal("1.00"), initial_stock=1)


def _run_without_committing(connection: Connection, command: CreateProduct) -> Accepted:
    """The real handler in the connection's open transaction: it writes the product and appends its
    event, taking a position; the transaction stays open until the caller commits it."""
    with Session(bind=connection) as session:
        accepted: Accepted = HANDLERS[CreateProduct](command, UnitOfWork(session, DEVELOPMENT_EMAIL_KEYS, connection))
        return accepted


async def _transactions_waiting_for_a_lock(container: Container) -> bool:
    """Whether a session of the test's database waits for a lock another transaction holds."""
    async with container.database.reader.connect() as connection:
        result = await connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        return int(result.scalar_one()) >= 1


@pytest.mark.postgres_only
async def test_a_position_held_by_an_open_transaction_is_never_skipped(container: Container) -> None:
    first = await container.bus.dispatch(_create("FIRST"))
    assert isinstance(first, Accepted)
    assert await drain(container) == first.position

    async with container.database.writer.connect() as held_connection:
        await held_connection.begin()  # ours: the handler's session joins it and leaves it open
        held = await held_connection.run_sync(_run_without_committing, _create("HELD"))
        assert held.position == first.position + 1
        later = [asyncio.ensure_future(container.bus.dispatch(_create(f"LATER-{n}"))) for n in range(LATER_COMMANDS)]

        # The later commands' group queues on the head row instead of committing past the held position...
        await wait_until(lambda: _transactions_waiting_for_a_lock(container), WAIT_S,
                         "the later commands' group waiting for the held transaction's lock")
        # ...so the worker finds nothing after its checkpoint, and its checkpoint stays put.
        assert await container.worker.run_once(first.position) == first.position
        assert await container.outbox.head() == first.position
        assert not any(task.done() for task in later)

        await held_connection.commit()

    accepted = await asyncio.gather(*later)
    assert sorted(result.position for result in accepted if isinstance(result, Accepted)) == [
        held.position + n for n in range(1, LATER_COMMANDS + 1)]
    assert await drain(container) == held.position + LATER_COMMANDS
    documents = await indexed_products(container)
    assert held.id in documents and documents[held.id]["sku"] == "HELD"
    assert len(documents) == 2 + LATER_COMMANDS

