"""Idempotency keys through the real command bus on a real SQLite write model (no read model)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.support import in_unit_of_work
from write_model.bus import MAX_IDEMPOTENCY_KEY, CommandBus
from write_model.commands import AdjustStock, CreateProduct, OrderLineRequest, PlaceOrder, RegisterCustomer
from write_model.database import Database
from write_model.errors import ValidationFailed
from write_model.outbox import Outbox
from write_model.repositories import IdempotencyRecord
from write_model.results import Accepted


@pytest.fixture
def bus(database: Database) -> CommandBus:
    return CommandBus(database.commands)


async def _accepted(bus: CommandBus, command: CreateProduct | AdjustStock | RegisterCustomer | PlaceOrder) -> Accepted:
    result = await bus.dispatch(command)
    assert isinstance(result, Accepted), result
    return result


async def _product(bus: CommandBus, stock: int = 5) -> Accepted:
    return await _accepted(bus, CreateProduct(sku="MUG-1", name="Mug", category="c", price=Decimal("2.50"),
                                              initial_stock=stock))


async def _record(database: Database, key: str) -> IdempotencyRecord | None:
    return await in_unit_of_work(database, lambda uow: uow.idempotency_keys.get(key))


async def test_the_same_key_and_input_answer_the_earlier_result_and_run_once(
    database: Database, bus: CommandBus
) -> None:
    product = await _product(bus)
    adjust = AdjustStock(product.id, delta=3, key="k-1")

    first = await _accepted(bus, adjust)
    head = await Outbox(database).head()
    again = await _accepted(bus, AdjustStock(product.id, delta=3, key="k-1"))

    assert again == first == Accepted(product.id, 2, 2)
    assert await Outbox(database).head() == head


async def test_the_same_key_with_another_input_is_refused(database: Database, bus: CommandBus) -> None:
    product = await _product(bus)
    await _accepted(bus, AdjustStock(product.id, delta=3, key="k-1"))
    head = await Outbox(database).head()

    other = await bus.dispatch(AdjustStock(product.id, delta=4, key="k-1"))
    other_command = await bus.dispatch(RegisterCustomer(email="ada@example.com", name="Ada", key="k-1"))

    for refused in (other, other_command):
        assert isinstance(refused, ValidationFailed)
        assert [problem.field for problem in refused.fields] == ["idempotencyKey"]
    assert await Outbox(database).head() == head


@pytest.mark.parametrize("key", ["", "   ", "k" * (MAX_IDEMPOTENCY_KEY + 1)])
async def test_an_invalid_key_is_refused(database: Database, bus: CommandBus, key: str) -> None:
    product = await _product(bus)

    refused = await bus.dispatch(AdjustStock(product.id, delta=1, key=key))

    assert isinstance(refused, ValidationFailed)
    assert [problem.field for problem in refused.fields] == ["idempotencyKey"]
    assert await Outbox(database).head() == product.position


async def test_the_record_of_a_command_with_several_events_is_its_result(database: Database, bus: CommandBus) -> None:
    product = await _product(bus)
    customer = await _accepted(bus, RegisterCustomer(email="ada@example.com", name="Ada"))

    placed = await _accepted(bus, PlaceOrder(customer.id, (OrderLineRequest(product.id, 2),), key="order-1"))

    record = await _record(database, "order-1")
    assert record is not None and record.result == placed
    assert placed.position == customer.position + 2  # the stock reservation came first


async def test_a_rejected_command_leaves_its_key_unused(database: Database, bus: CommandBus) -> None:
    product = await _product(bus, stock=1)

    assert isinstance(await bus.dispatch(AdjustStock(product.id, delta=-2, key="k-1")), ValidationFailed)
    assert await _record(database, "k-1") is None
    accepted = await _accepted(bus, AdjustStock(product.id, delta=-1, key="k-1"))

    assert accepted.version == 2


async def test_concurrent_duplicates_run_once(database: Database, bus: CommandBus) -> None:
    product = await _product(bus, stock=0)

    results = await asyncio.gather(*(bus.dispatch(AdjustStock(product.id, delta=1, key="k-1")) for _ in range(5)))

    [result] = set(results)
    assert isinstance(result, Accepted)
    assert await Outbox(database).head() == product.position + 1
