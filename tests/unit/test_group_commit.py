"""Group commit on a real SQLite write model: commands queued while a transaction runs share the
next one, each in a savepoint of its own (no read model).

The writer is held inside a job of its own until the commands under test are queued behind it,
so they form one group whatever the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from tests.support import HOLD_TIMEOUT_S, group_commit_writer, in_unit_of_work, one_group, wait_until, writer_held
from write_model import orders, products
from write_model.bus import HANDLERS, CommandBus, Handler
from write_model.commands import (
    AdjustStock,
    Command,
    CreateProduct,
    DiscontinueProduct,
    OrderLineRequest,
    PlaceOrder,
    RegisterCustomer,
)
from write_model.database import Database, create_schema, open_database
from write_model.errors import Duplicate, InsufficientStock, ValidationFailed
from write_model.outbox import Outbox
from write_model.results import Accepted
from write_model.unit_of_work import UnitOfWork
from write_model.writer import GroupAborted, SessionGroupWriter, UnitsOfWork


async def _product(bus: CommandBus, stock: int) -> Accepted:
    result = await bus.dispatch(CreateProduct(sku="MUG-1", name="Mug", category="c", price=Decimal("2.50"),
                                              initial_stock=stock))
    assert isinstance(result, Accepted)
    return result


async def _stock(database: Database, product_id: str) -> tuple[int, int]:
    product = await in_unit_of_work(database, lambda uow: uow.products.get(product_id))
    assert product is not None
    return product.stock, product.version


@pytest.fixture
def bus(database: Database) -> CommandBus:
    return CommandBus(database.commands)


async def test_the_same_key_twice_in_one_group_runs_once(database: Database, bus: CommandBus) -> None:
    product = await _product(bus, stock=0)

    results = await one_group(database, *(bus.dispatch(AdjustStock(product.id, delta=1, key="k-1"))
                                           for _ in range(2)))

    assert results == [Accepted(product.id, 2, product.position + 1)] * 2
    assert await Outbox(database).head() == product.position + 1
    record = await in_unit_of_work(database, lambda uow: uow.idempotency_keys.get("k-1"))
    assert record is not None and record.result == results[0]
    assert await _stock(database, product.id) == (1, 2)


class HandlerBug(Exception):
    """Not a rejection: a bug in a handler, after it changed the product."""


def _discontinue_then_fail(command: DiscontinueProduct, uow: UnitOfWork) -> Accepted:
    products.discontinue_product(command, uow)
    raise HandlerBug("after the discontinuation was written")


async def test_a_failing_handler_rolls_back_only_itself(database: Database) -> None:
    handlers: dict[type[Command], Handler] = {**HANDLERS, DiscontinueProduct: _discontinue_then_fail}
    bus = CommandBus(database.commands, handlers)
    product = await _product(bus, stock=5)

    before, failed, after = await one_group(
        database,
        bus.dispatch(AdjustStock(product.id, delta=1)),
        bus.dispatch(DiscontinueProduct(product.id)),
        bus.dispatch(AdjustStock(product.id, delta=1)),
    )

    assert isinstance(failed, HandlerBug)
    assert before == Accepted(product.id, 2, product.position + 1)
    assert after == Accepted(product.id, 3, product.position + 2)  # still active: the bug left no trace
    events = await Outbox(database).read_after(product.position, 100)
    assert [(e.event_type, e.payload["status"]) for e in events] == [("StockAdjusted", "ACTIVE")] * 2
    assert await _stock(database, product.id) == (7, 3)


def _place_then_fail(command: PlaceOrder, uow: UnitOfWork) -> Accepted:
    orders.place_order(command, uow)  # reserves, inserts and counts with statements of its own, not the ORM
    raise HandlerBug("after the order was written")


async def test_a_handler_failing_after_its_own_statements_leaves_none_of_them(database: Database) -> None:
    bus = CommandBus(database.commands, {**HANDLERS, PlaceOrder: _place_then_fail})
    product = await _product(bus, stock=5)
    customer = await bus.dispatch(RegisterCustomer(email="ada@example.com", name="Ada"))
    assert isinstance(customer, Accepted)

    before, failed, after = await one_group(
        database,
        bus.dispatch(AdjustStock(product.id, delta=1)),
        bus.dispatch(PlaceOrder(customer.id, (OrderLineRequest(product.id, 2),))),
        bus.dispatch(AdjustStock(product.id, delta=1)),
    )

    assert isinstance(failed, HandlerBug)
    assert (before, after) == (Accepted(product.id, 2, customer.position + 1),
                               Accepted(product.id, 3, customer.position + 2))
    assert await _stock(database, product.id) == (7, 3)  # not reserved
    assert await in_unit_of_work(database, lambda uow: uow.orders.ids_of(customer.id)) == []
    stored = await in_unit_of_work(database, lambda uow: uow.customers.plain(customer.id))
    assert stored is not None and (stored.order_count, stored.total_spent_minor) == (0, 0)


async def test_a_group_holds_at_most_its_maximum(tmp_path: Path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'write.db'}", write_group_max=2)
    try:
        await create_schema(database)
        bus = CommandBus(database.commands)
        product = await _product(bus, stock=0)
        writer = group_commit_writer(database)
        async with writer_held(database):
            tasks = [asyncio.ensure_future(bus.dispatch(AdjustStock(product.id, delta=1))) for _ in range(3)]
            await wait_until(lambda: writer.queued == 3, HOLD_TIMEOUT_S, lambda: f"3 queued; {writer.queued} are")
            groups = writer.committed_groups
        results = await asyncio.gather(*tasks)

        assert writer.committed_groups == groups + 3  # the holding job's, then two
        assert [result.position for result in results if isinstance(result, Accepted)] == [
            product.position + 1, product.position + 2, product.position + 3
        ]
    finally:
        await database.dispose()


async def test_the_session_group_writer_runs_the_same_commands(database: Database) -> None:
    """The writer for database servers (PostgreSQL), here on the async SQLite engine."""
    bus = CommandBus(SessionGroupWriter(database.writer))
    product = await _product(bus, stock=1)

    refused = await bus.dispatch(AdjustStock(product.id, delta=-2))
    accepted = await bus.dispatch(AdjustStock(product.id, delta=-1, key="k-1"))
    again = await bus.dispatch(AdjustStock(product.id, delta=-1, key="k-1"))

    assert isinstance(refused, ValidationFailed)
    assert accepted == again == Accepted(product.id, 2, product.position + 1)
    assert await Outbox(database).head() == product.position + 1
    assert await _stock(database, product.id) == (0, 2)



async def test_a_job_that_raises_a_base_exception_fails_its_group_and_the_writer_goes_on(
    database: Database, bus: CommandBus, caplog: pytest.LogCaptureFixture
) -> None:
    def exits(_units: UnitsOfWork) -> None:
        raise SystemExit("a job that should never do this")

    with pytest.raises(GroupAborted):
        await database.commands.run(exits)
    assert any(record.levelname == "CRITICAL" for record in caplog.records)
    product = await _product(bus, stock=3)  # the same writer thread serves the next group
    assert await _stock(database, product.id) == (3, 1)


def _counting(runs: list[int]) -> Handler:
    """adjust_stock, noting each run's delta."""
    def adjust(command: AdjustStock, uow: UnitOfWork) -> Accepted:
        runs.append(command.delta)
        return products.adjust_stock(command, uow)

    return adjust


async def test_a_group_that_succeeds_runs_once_and_one_with_a_rejection_runs_again_from_its_start(
    database: Database,
) -> None:
    """The first run of a group takes no savepoints; a unit that raises rolls the whole run back,
    and the group runs again with a savepoint for each unit (write_model/writer.py, run_group)."""
    runs: list[int] = []
    bus = CommandBus(database.commands, {**HANDLERS, AdjustStock: _counting(runs)})
    product = await _product(bus, stock=1)

    accepted = await one_group(database, *(bus.dispatch(AdjustStock(product.id, delta=delta)) for delta in (1, 2)))
    assert runs == [1, 2]
    assert [result.position for result in accepted] == [product.position + 1, product.position + 2]

    runs.clear()
    before, refused, after = await one_group(database, *(bus.dispatch(AdjustStock(product.id, delta=delta))
                                                         for delta in (1, -100, 3)))
    assert runs == [1, -100, 1, -100, 3]
    assert isinstance(refused, ValidationFailed)
    assert before == Accepted(product.id, 4, product.position + 3)
    assert after == Accepted(product.id, 5, product.position + 4)
    assert await _stock(database, product.id) == (8, 5)


async def test_each_command_of_a_group_sees_the_writes_held_back_before_it(database: Database, bus: CommandBus) -> None:
    """The first run of a group sends an order's stock reservation only with the next statement:
    the ORM's load of the product for AdjustStock, then the next order's read of its products."""
    product = await _product(bus, stock=3)
    customer = await bus.dispatch(RegisterCustomer(email="ada@example.com", name="Ada"))
    assert isinstance(customer, Accepted)

    first, adjusted, second = await one_group(
        database,
        bus.dispatch(PlaceOrder(customer.id, (OrderLineRequest(product.id, 2),))),
        bus.dispatch(AdjustStock(product.id, delta=-1)),
        bus.dispatch(PlaceOrder(customer.id, (OrderLineRequest(product.id, 1),))),
    )

    assert isinstance(first, Accepted)
    assert adjusted == Accepted(product.id, 3, first.position + 1)
    assert isinstance(second, InsufficientStock)
    assert await _stock(database, product.id) == (0, 3)


async def test_a_held_back_write_that_fails_fails_its_command_though_a_later_one_swallowed_it(
    database: Database, bus: CommandBus,
) -> None:
    """The taken SKU's insert is held back until the next command's read, which takes the failure
    for its own and carries on: the group's first run is still thrown away, and the second one
    answers the duplicate as a duplicate."""
    taken = await _product(bus, stock=1)

    def read_swallowing_failures_then_adjust(command: AdjustStock, uow: UnitOfWork) -> Accepted:
        with contextlib.suppress(IntegrityError):
            uow.products.plain([command.product_id])
        return products.adjust_stock(command, uow)

    swallowing = CommandBus(database.commands, {**HANDLERS, AdjustStock: read_swallowing_failures_then_adjust})
    duplicate, adjusted = await one_group(
        database,
        swallowing.dispatch(CreateProduct(sku="MUG-1", name="Mug", category="c", price=Decimal("1.00"))),
        swallowing.dispatch(AdjustStock(taken.id, delta=1)),
    )

    assert isinstance(duplicate, Duplicate) and duplicate.field == "sku"
    assert adjusted == Accepted(taken.id, 2, taken.position + 1)
    assert await Outbox(database).head() == taken.position + 1
