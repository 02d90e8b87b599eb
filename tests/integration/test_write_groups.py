"""Commands sent together share transactions, on every backend's writer (SQLite's thread,
PostgreSQL's session groups): each keeps its own answer, a rejected one leaves no trace, and
positions stay gap-free and in the order the commands arrived."""

from __future__ import annotations

import asyncio
from decimal import Decimal

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
