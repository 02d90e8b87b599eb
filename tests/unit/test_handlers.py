"""The command handlers against a real SQLite write model alone (no read model, no HTTP).

Every accepted command is checked against the outbox: its result names its last event, whose
stream, version and position an idempotency record is read off.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tests.support import in_unit_of_work
from write_model import customers, orders, products
from write_model.commands import (
    AdjustStock,
    CancelOrder,
    CreateProduct,
    DiscontinueProduct,
    EraseCustomer,
    OrderLineRequest,
    PlaceOrder,
    RegisterCustomer,
    ShipOrder,
    UpdateProduct,
)
from write_model.database import Database
from write_model.errors import (
    Duplicate,
    InsufficientStock,
    InvalidState,
    NotFound,
    NotPermitted,
    ValidationFailed,
    VersionConflict,
)
from write_model.events import StoredEvent
from write_model.outbox import Outbox
from write_model.personal import ERASED_NAME
from write_model.results import Accepted
from write_model.unit_of_work import UnitOfWork

C = TypeVar("C")
Handler = Callable[[C, UnitOfWork], Accepted]


async def _events(database: Database) -> list[StoredEvent]:
    return await Outbox(database).read_after(0, 1_000)


async def _run(database: Database, handler: Handler[C], command: C) -> Accepted:
    """Run one command in a fresh unit of work; its result must name the last event it wrote."""
    before = await Outbox(database).head()
    accepted = await in_unit_of_work(database, lambda uow: handler(command, uow))
    last = (await _events(database))[-1]
    assert accepted == Accepted(last.stream_id, last.stream_version, last.position)
    assert last.position > before
    return accepted


async def _rejected(database: Database, handler: Handler[C], command: C, rejection: type[Exception]) -> Any:
    """Run a command that must be rejected; nothing may reach the outbox."""
    before = await _events(database)
    with pytest.raises(rejection) as raised:
        await in_unit_of_work(database, lambda uow: handler(command, uow))
    assert await _events(database) == before
    return raised.value


async def _stock_and_price(database: Database, product_id: str) -> tuple[int, str]:
    product = await in_unit_of_work(database, lambda uow: uow.products.get(product_id))
    assert product is not None
    return product.stock, product.price


async def _stock(database: Database, product_id: str) -> int:
    return (await _stock_and_price(database, product_id))[0]


async def _order_status(database: Database, order_id: str) -> str:
    order = await in_unit_of_work(database, lambda uow: uow.orders.get(order_id))
    assert order is not None
    return order.status


async def _create(database: Database, sku: str, price: str = "12.50", stock: int = 10) -> Accepted:
    command = CreateProduct(sku=sku, name=f"Product {sku}", category="kitchen", price=Decimal(price),
                            initial_stock=stock)
    return await _run(database, products.create_product, command)


async def _register(database: Database, email: str = "ada@example.com") -> Accepted:
    return await _run(database, customers.register_customer, RegisterCustomer(email=email, name="Ada"))


async def _place(database: Database, customer_id: str, *lines: tuple[str, int]) -> Accepted:
    command = PlaceOrder(customer_id, tuple(OrderLineRequest(product, quantity) for product, quantity in lines))
    return await _run(database, orders.place_order, command)


# --- Products ----------------------------------------------------------------------------------


async def test_creating_a_product_records_its_state_with_the_price_in_minor_units(database: Database) -> None:
    command = CreateProduct(sku="  MUG-1 ", name=" Blue mug ", category="kitchen", price=Decimal("12.5"),
                            tags=(" ceramic", "blue", "ceramic"), initial_stock=3)

    accepted = await _run(database, products.create_product, command)

    assert (accepted.version, accepted.position) == (1, 1)
    [event] = await _events(database)
    assert (event.stream_type, event.event_type, event.stream_version) == ("product", "ProductCreated", 1)
    assert {key: event.payload[key] for key in ("sku", "name", "tags", "priceMinor", "stock", "status")} == {
        "sku": "MUG-1", "name": "Blue mug", "tags": ["ceramic", "blue"], "priceMinor": 1250, "stock": 3,
        "status": "ACTIVE",
    }
    assert await _stock_and_price(database, accepted.id) == (3, "12.50")


async def test_a_taken_sku_is_a_duplicate(database: Database) -> None:
    await _create(database, "MUG-1")

    duplicate = await _rejected(database, products.create_product,
                                CreateProduct(sku="MUG-1", name="Other", category="c", price=Decimal(1)), Duplicate)

    assert duplicate.field == "sku"


async def test_updating_bumps_the_version_and_a_stale_version_conflicts(database: Database) -> None:
    created = await _create(database, "MUG-1")

    updated = await _run(database, products.update_product,
                         UpdateProduct(created.id, expected_version=1, name="Red mug", price=Decimal("9.99")))
    conflict = await _rejected(database, products.update_product,
                               UpdateProduct(created.id, expected_version=1, name="Late"), VersionConflict)

    assert (updated.id, updated.version, updated.position) == (created.id, 2, 2)
    last = (await _events(database))[-1]
    assert (last.event_type, last.payload["name"], last.payload["priceMinor"]) == ("ProductUpdated", "Red mug", 999)
    assert (conflict.expected_version, conflict.actual_version) == (1, 2)


async def test_adjusting_stock_records_the_reason_and_never_goes_below_zero(database: Database) -> None:
    created = await _create(database, "MUG-1", stock=2)

    adjusted = await _run(database, products.adjust_stock, AdjustStock(created.id, delta=-2, reason="broken"))
    too_far = await _rejected(database, products.adjust_stock, AdjustStock(created.id, delta=-1), ValidationFailed)
    await _rejected(database, products.adjust_stock, AdjustStock(created.id, delta=0), ValidationFailed)
    await _rejected(database, products.adjust_stock, AdjustStock("no-such-id", delta=1), NotFound)

    assert adjusted.version == 2
    last = (await _events(database))[-1]
    assert (last.event_type, last.payload["stock"], last.payload["reason"]) == ("StockAdjusted", 0, "broken")
    assert [problem.field for problem in too_far.fields] == ["delta"]
    assert await _stock(database, created.id) == 0


async def test_a_discontinued_product_cannot_change_again(database: Database) -> None:
    created = await _create(database, "MUG-1")

    discontinued = await _run(database, products.discontinue_product, DiscontinueProduct(created.id))
    again = await _rejected(database, products.discontinue_product, DiscontinueProduct(created.id), InvalidState)
    await _rejected(database, products.update_product, UpdateProduct(created.id, name="New"), InvalidState)

    assert discontinued.version == 2
    last = (await _events(database))[-1]
    assert (last.event_type, last.payload["status"]) == ("ProductDiscontinued", "DISCONTINUED")
    assert again.current_status == "DISCONTINUED"


# --- Customers ---------------------------------------------------------------------------------


async def test_registering_records_a_customer_without_orders(database: Database) -> None:
    accepted = await _register(database, " Ada@Example.com ")

    [event] = await _events(database)
    assert (event.stream_type, event.event_type, event.stream_id, event.stream_version) == (
        "customer", "CustomerRegistered", accepted.id, 1)
    assert (event.payload["email"], event.payload["orderCount"], event.payload["totalSpentMinor"]) == (
        "Ada@Example.com", 0, 0)


async def test_an_email_is_taken_whatever_its_case(database: Database) -> None:
    await _register(database, "ada@example.com")

    duplicate = await _rejected(database, customers.register_customer,
                                RegisterCustomer(email="ADA@example.COM", name="Other"), Duplicate)

    assert duplicate.field == "email"


async def test_erasing_deletes_the_key_blanks_the_row_and_every_earlier_event_reads_as_erased(
    database: Database,
) -> None:
    mug = await _create(database, "MUG-1")
    customer = await _register(database)
    placed = await _place(database, customer.id, (mug.id, 1))

    erased = await _run(database, customers.erase_customer, EraseCustomer(customer.id, expected_version=1))

    row = await in_unit_of_work(database, lambda uow: uow.customers.get(customer.id))
    assert row is not None and (row.email, row.email_key, row.name, row.version) == (None, None, ERASED_NAME, 2)
    assert await in_unit_of_work(database, lambda uow: uow.keys.cipher(customer.id)) is None
    _created, registered, _reserved, order, erasure = await _events(database)
    assert (erasure.event_type, erasure.stream_version, erasure.payload["orderIds"]) == (
        "CustomerErased", erased.version, [placed.id])
    assert (erasure.payload["orderCount"], erasure.payload["totalSpentMinor"]) == (1, 1250)
    for shown in (registered.payload, order.payload["customer"], erasure.payload):
        assert (shown["email"], shown["name"]) == (None, ERASED_NAME)
    assert (order.payload["customerName"], order.payload["totalMinor"]) == (ERASED_NAME, 1250)
    # The email is free again.
    await _register(database)


async def test_an_erased_customer_can_be_neither_erased_again_nor_ordered_for(database: Database) -> None:
    mug = await _create(database, "MUG-1")
    customer = await _register(database)
    await _rejected(database, customers.erase_customer, EraseCustomer(customer.id, actor="someone-else"),
                    NotPermitted)
    await _rejected(database, customers.erase_customer, EraseCustomer(customer.id, expected_version=2),
                    VersionConflict)
    await _run(database, customers.erase_customer, EraseCustomer(customer.id, actor=customer.id))

    again = await _rejected(database, customers.erase_customer, EraseCustomer(customer.id), InvalidState)
    ordered = await _rejected(database, orders.place_order, PlaceOrder(customer.id, (OrderLineRequest(mug.id, 1),)),
                              InvalidState)

    assert again.current_status == ordered.current_status == "ERASED"
    assert await _stock(database, mug.id) == 10


# --- Orders ------------------------------------------------------------------------------------


async def test_placing_an_order_reserves_every_line_then_records_the_order(database: Database) -> None:
    mug = await _create(database, "MUG-1", price="12.50", stock=5)
    cup = await _create(database, "CUP-1", price="3.05", stock=1)
    customer = await _register(database)

    placed = await _place(database, customer.id, (mug.id, 2), (cup.id, 1))

    reserved_mug, reserved_cup, order = (await _events(database))[-3:]
    reservations = [(event.event_type, event.stream_id, event.stream_version, event.payload["stock"])
                    for event in (reserved_mug, reserved_cup)]
    assert reservations == [("StockReserved", mug.id, 2, 3), ("StockReserved", cup.id, 2, 0)]
    assert reserved_mug.payload["reason"] == f"order {placed.id}"
    assert (order.event_type, order.stream_type, order.stream_version, order.position) == (
        "OrderPlaced", "order", 1, reserved_mug.position + 2)
    assert order.payload["totalMinor"] == 2 * 1250 + 305
    assert [(line["quantity"], line["unitPriceMinor"], line["lineTotalMinor"]) for line in order.payload["lines"]] == [
        (2, 1250, 2500), (1, 305, 305)]
    assert (order.payload["customer"]["orderCount"], order.payload["customer"]["totalSpentMinor"]) == (1, 2805)
    assert [await _stock(database, p.id) for p in (mug, cup)] == [3, 0]


async def test_a_short_line_reserves_nothing(database: Database) -> None:
    mug = await _create(database, "MUG-1", stock=5)
    cup = await _create(database, "CUP-1", stock=1)
    customer = await _register(database)

    short = await _rejected(database, orders.place_order, PlaceOrder(customer.id, (
        OrderLineRequest(mug.id, 2), OrderLineRequest(cup.id, 2))), InsufficientStock)

    assert (short.product_id, short.requested, short.available) == (cup.id, 2, 1)
    assert [await _stock(database, p.id) for p in (mug, cup)] == [5, 1]


async def test_orders_of_a_discontinued_product_or_for_someone_else_are_refused(database: Database) -> None:
    mug = await _create(database, "MUG-1")
    customer = await _register(database)
    await _run(database, products.discontinue_product, DiscontinueProduct(mug.id))

    not_for_sale = await _rejected(database, orders.place_order,
                                   PlaceOrder(customer.id, (OrderLineRequest(mug.id, 1),)), ValidationFailed)
    await _rejected(database, orders.place_order,
                    PlaceOrder(customer.id, (OrderLineRequest(mug.id, 1),), actor="someone-else"), NotPermitted)

    assert [problem.field for problem in not_for_sale.fields] == ["lines.0.productId"]


async def test_the_customer_statistics_count_orders_that_are_not_cancelled(database: Database) -> None:
    mug = await _create(database, "MUG-1", price="2.00")
    customer = await _register(database)
    first = await _place(database, customer.id, (mug.id, 1))
    await _place(database, customer.id, (mug.id, 3))
    second_stats = (await _events(database))[-1].payload["customer"]

    await _run(database, orders.cancel_order, CancelOrder(first.id, expected_version=1))

    cancelled_stats = (await _events(database))[-1].payload["customer"]
    assert (second_stats["orderCount"], second_stats["totalSpentMinor"]) == (2, 800)
    assert (cancelled_stats["orderCount"], cancelled_stats["totalSpentMinor"]) == (1, 600)


async def test_cancelling_releases_the_stock_once(database: Database) -> None:
    mug = await _create(database, "MUG-1", stock=5)
    customer = await _register(database)
    placed = await _place(database, customer.id, (mug.id, 2))

    cancelled = await _run(database, orders.cancel_order, CancelOrder(placed.id, reason="changed my mind"))
    again = await _rejected(database, orders.cancel_order, CancelOrder(placed.id), InvalidState)

    released, order = (await _events(database))[-2:]
    assert (released.event_type, released.stream_id, released.payload["stock"]) == ("StockReleased", mug.id, 5)
    assert (order.event_type, order.payload["status"], order.payload["reason"]) == (
        "OrderCancelled", "CANCELLED", "changed my mind")
    assert cancelled.version == 2
    assert again.current_status == "CANCELLED"
    assert await _stock(database, mug.id) == 5


async def test_another_customers_order_looks_like_no_order(database: Database) -> None:
    mug = await _create(database, "MUG-1")
    customer = await _register(database)
    placed = await _place(database, customer.id, (mug.id, 1))

    await _rejected(database, orders.cancel_order, CancelOrder(placed.id, actor="someone-else"), NotFound)

    assert await _order_status(database, placed.id) == "PLACED"


async def test_a_shipped_order_can_be_neither_shipped_nor_cancelled_again(database: Database) -> None:
    mug = await _create(database, "MUG-1", stock=5)
    customer = await _register(database)
    placed = await _place(database, customer.id, (mug.id, 2))

    shipped = await _run(database, orders.ship_order, ShipOrder(placed.id, expected_version=1))
    await _rejected(database, orders.ship_order, ShipOrder(placed.id), InvalidState)
    await _rejected(database, orders.cancel_order, CancelOrder(placed.id), InvalidState)

    last = (await _events(database))[-1]
    assert (last.event_type, last.stream_version, last.payload["status"]) == ("OrderShipped", 2, "SHIPPED")
    assert shipped.version == 2
    assert await _stock(database, mug.id) == 3


async def test_positions_are_gap_free_across_commands(database: Database) -> None:
    mug = await _create(database, "MUG-1")
    customer = await _register(database)
    await _rejected(database, products.update_product, UpdateProduct(mug.id, expected_version=7), VersionConflict)
    await _place(database, customer.id, (mug.id, 1))

    assert [event.position for event in await _events(database)] == [1, 2, 3, 4]
    assert await Outbox(database).head() == 4
