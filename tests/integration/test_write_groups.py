"""Commands sent together share transactions, on every backend's writer (SQLite's thread,
PostgreSQL's session groups): each keeps its own answer, a rejected one leaves no trace, and
positions stay gap-free and in the order the commands arrived."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from write_model.bus import CommandBus
from write_model.commands import AdjustStock, CreateProduct
from write_model.database import Database
from write_model.errors import Rejection
from write_model.outbox import Outbox
from write_model.results import Accepted

COMMANDS = 40
REJECTED = 17  # asks for more than is in stock


async def test_commands_sent_together_share_transactions_and_keep_their_order(database: Database) -> None:
    bus = CommandBus(database.commands)
    product = await bus.dispatch(CreateProduct(sku="G-1", name="Glass", category="c", price=Decimal("1.00"),
                                               initial_stock=1_000))
    assert isinstance(product, Accepted)
    groups = database.commands.committed_groups

    results = await asyncio.gather(*(bus.dispatch(AdjustStock(product.id, delta=-5_000 if n == REJECTED else -1))
                                     for n in range(COMMANDS)))

    assert isinstance(results[REJECTED], Rejection)
    accepted = [result for n, result in enumerate(results) if n != REJECTED]
    assert all(isinstance(result, Accepted) for result in accepted)
    assert [(result.version, result.position) for result in accepted if isinstance(result, Accepted)] == [
        (product.version + n, product.position + n) for n in range(1, COMMANDS)]
    assert database.commands.committed_groups - groups < COMMANDS - 1
    events = await Outbox(database).read_after(product.position, COMMANDS)
    assert [event.payload["stock"] for event in events] == [1_000 - n for n in range(1, COMMANDS)]


@pytest.mark.postgres_only
async def test_a_group_whose_connection_was_lost_runs_again_on_a_new_one(database: Database) -> None:
    """The command writer does not ping its connection before each group: one the server ended
    since (a restart, an administrator) fails the next group's first statement, before anything
    was written, and the group runs again."""
    bus = CommandBus(database.commands)
    first = await bus.dispatch(CreateProduct(sku="L-1", name="Lamp", category="c", price=Decimal("1.00")))
    assert isinstance(first, Accepted)
    async with database.reader.connect() as admin:
        ended = (await admin.execute(text(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar_one()
    assert ended >= 1  # the command writer's connection among them

    second = await bus.dispatch(CreateProduct(sku="L-2", name="Lamp", category="c", price=Decimal("1.00")))

    assert isinstance(second, Accepted) and second.position == first.position + 1
    assert [event.stream_id for event in await Outbox(database).read_after(0, 10)] == [first.id, second.id]
