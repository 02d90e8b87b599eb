"""The order aggregate: placing reserves stock on every line or on none; cancelling gives it back."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from write_model import events
from write_model.commands import CancelOrder, PlaceOrder, ShipOrder
from write_model.customers import ERASED
from write_model.customers import state_payload as customer_state_payload
from write_model.errors import (
    FieldProblem,
    InsufficientStock,
    InvalidState,
    NotPermitted,
    ValidationFailed,
    check_version,
    found,
)
from write_model.money import money_text, to_minor_units
from write_model.products import ACTIVE, MAX_REASON, record_change
from write_model.results import Accepted
from write_model.tables import CustomerRow, NewOrder, OrderRow, PlainCustomer, PlainProduct, as_utc, utc_now
from write_model.unit_of_work import UnitOfWork
from write_model.validation import Checks

PLACED = "PLACED"
CANCELLED = "CANCELLED"
SHIPPED = "SHIPPED"

MAX_LINES = 50


def place_order(command: PlaceOrder, uow: UnitOfWork) -> Accepted:
    if command.actor is not None and command.actor != command.customer_id:
        raise NotPermitted("A customer may place orders only for themselves.")
    _check_lines(command)
    customer = found("customer", command.customer_id, uow.customers.plain(command.customer_id))
    if customer.erased_at is not None:
        raise InvalidState("The customer is erased: no order can be placed for them.", ERASED)
    stocked = uow.products.plain({line.product_id for line in command.lines})
    products = [_orderable(index, line.product_id, line.quantity, stocked.get(line.product_id))
                for index, line in enumerate(command.lines)]
    order_id = str(uuid.uuid4())
    lines = []
    for product, line in zip(products, command.lines, strict=True):
        product.stock -= line.quantity
        record_change(uow, product, events.STOCK_RESERVED, reason=f"order {order_id}")
        lines.append(_order_line(product, line.quantity))
    uow.products.save_stock(products)
    total = money_text(sum((Decimal(line["lineTotal"]) for line in lines), Decimal(0)))
    now = utc_now()
    order = NewOrder(
        id=order_id, customer_id=customer.id, status=PLACED, lines=lines, total=total,
        total_minor=to_minor_units(total), version=1, placed_at=now, updated_at=now,
    )
    uow.orders.add(order)
    uow.customers.count_order(customer, order.total_minor)
    return _commit(uow, order, events.ORDER_PLACED, customer)


def cancel_order(command: CancelOrder, uow: UnitOfWork) -> Accepted:
    checks = Checks()
    checks.text("reason", command.reason, max_length=MAX_REASON, required=False)
    checks.raise_if_any()
    order = _placed_order(uow, command.id, command.expected_version, "cancelled", command.actor)
    for line in order.lines:
        product = found("product", line["productId"], uow.products.get(line["productId"]))
        product.stock += line["quantity"]
        record_change(uow, product, events.STOCK_RELEASED, reason=f"order {order.id} cancelled")
    order.status = CANCELLED
    customer = _customer_of(uow, order)
    customer.order_count -= 1
    customer.total_spent_minor -= order.total_minor
    return _commit(uow, order, events.ORDER_CANCELLED, customer, reason=command.reason)


def ship_order(command: ShipOrder, uow: UnitOfWork) -> Accepted:
    order = _placed_order(uow, command.id, command.expected_version, "shipped")
    order.status = SHIPPED
    return _commit(uow, order, events.ORDER_SHIPPED, _customer_of(uow, order))


def _check_lines(command: PlaceOrder) -> None:
    checks = Checks()
    if not 1 <= len(command.lines) <= MAX_LINES:
        checks.fail("lines", f"must hold 1 to {MAX_LINES} lines")
    seen: set[str] = set()
    for index, line in enumerate(command.lines):
        if line.product_id in seen:
            checks.fail(f"lines.{index}.productId", "appears on an earlier line")
        seen.add(line.product_id)
        checks.quantity(f"lines.{index}.quantity", line.quantity, minimum=1)
    checks.raise_if_any()


def _orderable(index: int, product_id: str, quantity: int, product: PlainProduct | None) -> PlainProduct:
    product = found("product", product_id, product)
    if product.status != ACTIVE:
        raise ValidationFailed(
            "An ordered product is not for sale.",
            [FieldProblem(f"lines.{index}.productId", f"product is {product.status.lower()}")],
        )
    if product.stock < quantity:
        raise InsufficientStock(
            f"Only {product.stock} of {product.sku} in stock, {quantity} requested.", product.id, quantity,
            product.stock,
        )
    return product


def line_payload(line: dict[str, Any]) -> dict[str, Any]:
    """An order line as the table keeps it (decimal text) in the shape events carry (minor units)."""
    return {
        "productId": line["productId"],
        "sku": line["sku"],
        "name": line["name"],
        "quantity": line["quantity"],
        "unitPriceMinor": to_minor_units(line["unitPrice"]),
        "lineTotalMinor": to_minor_units(line["lineTotal"]),
    }


def _order_line(product: PlainProduct, quantity: int) -> dict[str, Any]:
    """The product as the line keeps it: later changes to the product do not rewrite the order."""
    return {
        "productId": product.id,
        "sku": product.sku,
        "name": product.name,
        "quantity": quantity,
        "unitPrice": product.price,
        "lineTotal": money_text(Decimal(product.price) * quantity),
    }


def _placed_order(
    uow: UnitOfWork, order_id: str, expected_version: int | None, verb: str, actor: str | None = None
) -> OrderRow:
    order = uow.orders.get(order_id)
    if actor is not None and order is not None and order.customer_id != actor:
        order = None  # another customer's order looks like no order at all
    order = found("order", order_id, order)
    check_version("order", expected_version, order.version)
    if order.status != PLACED:
        raise InvalidState(f"Only a PLACED order can be {verb}; this one is {order.status}.", order.status)
    return order


def _customer_of(uow: UnitOfWork, order: OrderRow) -> CustomerRow:
    return found("customer", order.customer_id, uow.customers.get(order.customer_id))


def _commit(uow: UnitOfWork, order: OrderRow | NewOrder, event_type: str, customer: CustomerRow | PlainCustomer,
            reason: str | None = None) -> Accepted:
    if event_type != events.ORDER_PLACED:
        order.version += 1
        order.updated_at = utc_now()
    payload = {**state_payload(order, customer.name), "customer": customer_state_payload(customer)}
    if reason is not None:
        payload["reason"] = reason
    uow.outbox.record(events.NewEvent(events.ORDER, order.id, order.version, event_type, payload))
    position = uow.commit()
    return Accepted(order.id, order.version, position)


def state_payload(order: OrderRow | NewOrder, customer_name: str) -> dict[str, Any]:
    """The order as an event payload (amounts in minor units)."""
    return {
        "id": order.id,
        "customerId": order.customer_id,
        "customerName": customer_name,
        "status": order.status,
        "lines": [line_payload(line) for line in order.lines],
        "totalMinor": order.total_minor,
        "version": order.version,
        "placedAt": as_utc(order.placed_at).isoformat(),
        "updatedAt": as_utc(order.updated_at).isoformat(),
    }
