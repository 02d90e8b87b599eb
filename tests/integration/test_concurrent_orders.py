"""Orders of the same products placed at once, their lines in opposite orders. On PostgreSQL
commands run concurrently and lock the rows they change: locked in line order, two such orders
deadlock (PostgreSQL ends one after a second, and the writer runs it again). placeOrder locks its
products by id first, so none deadlocks, every order is placed and the stock adds up."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from sqlalchemy import text

from write_model.bus import CommandBus
from write_model.commands import CreateProduct, OrderLineRequest, PlaceOrder, RegisterCustomer
from write_model.database import Database
from write_model.results import Accepted

ORDERS = 24
STOCK = 100


async def _accepted(bus: CommandBus, command: CreateProduct | RegisterCustomer) -> Accepted:
    result = await bus.dispatch(command)
    assert isinstance(result, Accepted), result
    return result


async def test_orders_locking_products_in_opposite_orders_all_commit(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    bus = CommandBus(database.commands)
    a, b = [await _accepted(bus, CreateProduct(sku=sku, name=sku, category="c", price=Decimal("1.00"),
                                               initial_stock=STOCK)) for sku in ("A", "B")]
    customers = [await _accepted(bus, RegisterCustomer(email=f"c{n}@example.com", name=f"C{n}")) for n in range(2)]

    def order(n: int) -> PlaceOrder:
        first, second = (a, b) if n % 2 == 0 else (b, a)
        return PlaceOrder(customers[n % 2].id, (OrderLineRequest(first.id, 1), OrderLineRequest(second.id, 1)))

    with caplog.at_level(logging.INFO, logger="write_model.writer"):
        results = await asyncio.gather(*(bus.dispatch(order(n)) for n in range(ORDERS)))

    assert not [record for record in caplog.records if "deadlock" in record.getMessage()]

    assert all(isinstance(result, Accepted) for result in results), results
    async with database.reader.connect() as connection:
        stock = (await connection.execute(text("SELECT sku, stock FROM products ORDER BY sku"))).all()
        positions = (await connection.execute(text("SELECT min(position), max(position), count(*) FROM outbox"))).one()
    assert [tuple(row) for row in stock] == [("A", STOCK - ORDERS), ("B", STOCK - ORDERS)]
    assert positions[0] == 1 and positions[1] == positions[2]  # gap-free
