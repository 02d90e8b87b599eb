"""The product aggregate: its command handlers and the events they record."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from write_model import events
from write_model.commands import AdjustStock, CreateProduct, DiscontinueProduct, UpdateProduct
from write_model.errors import Duplicate, FieldProblem, InvalidState, ValidationFailed, check_version, found
from write_model.money import money_text, to_minor_units
from write_model.results import Accepted
from write_model.tables import PlainProduct, ProductRow, as_utc, utc_now
from write_model.unit_of_work import UnitOfWork
from write_model.validation import Checks

ACTIVE = "ACTIVE"
DISCONTINUED = "DISCONTINUED"

MAX_SKU = 64
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_CATEGORY = 100
MAX_TAGS = 32
MAX_TAG = 50
MAX_REASON = 500


def create_product(command: CreateProduct, uow: UnitOfWork) -> Accepted:
    checks = Checks()
    checks.text("sku", command.sku, max_length=MAX_SKU)
    _check_details(checks, command.name, command.description, command.category, command.tags)
    checks.money("price", command.price)
    checks.quantity("initialStock", command.initial_stock, minimum=0)
    checks.raise_if_any()
    sku = command.sku.strip()
    now = utc_now()
    product = PlainProduct(
        id=str(uuid.uuid4()),
        sku=sku,
        name=command.name.strip(),
        description=command.description,
        category=command.category.strip(),
        tags=_clean_tags(command.tags),
        price=money_text(command.price),
        stock=command.initial_stock,
        status=ACTIVE,
        version=1,
        created_at=now,
        updated_at=now,
    )
    try:
        uow.products.add(product)
    except IntegrityError as error:  # the id is new: only the SKU can be taken
        raise Duplicate(f"A product with SKU {sku!r} already exists.", "sku") from error
    return _commit(uow, product, events.PRODUCT_CREATED)


def update_product(command: UpdateProduct, uow: UnitOfWork) -> Accepted:
    checks = Checks()
    _check_details(checks, command.name, command.description, command.category, command.tags)
    checks.money("price", command.price)
    checks.raise_if_any()
    product = _load(uow, command.id, command.expected_version)
    if product.status == DISCONTINUED:
        raise InvalidState("A discontinued product cannot be changed.", product.status)
    if command.name is not None:
        product.name = command.name.strip()
    if command.description is not None:
        product.description = command.description
    if command.category is not None:
        product.category = command.category.strip()
    if command.tags is not None:
        product.tags = _clean_tags(command.tags)
    if command.price is not None:
        product.price = money_text(command.price)
    return _commit(uow, product, events.PRODUCT_UPDATED)


def adjust_stock(command: AdjustStock, uow: UnitOfWork) -> Accepted:
    checks = Checks()
    if command.delta == 0:
        checks.fail("delta", "must not be zero")
    checks.text("reason", command.reason, max_length=MAX_REASON, required=False)
    checks.raise_if_any()
    product = _load(uow, command.product_id, command.expected_version)
    if product.stock + command.delta < 0:
        raise ValidationFailed(
            "Stock cannot go below zero.",
            [FieldProblem("delta", f"would take stock from {product.stock} below zero")],
        )
    product.stock += command.delta
    return _commit(uow, product, events.STOCK_ADJUSTED, reason=command.reason)


def discontinue_product(command: DiscontinueProduct, uow: UnitOfWork) -> Accepted:
    product = _load(uow, command.id, command.expected_version)
    if product.status == DISCONTINUED:
        raise InvalidState("The product is already discontinued.", product.status)
    product.status = DISCONTINUED
    return _commit(uow, product, events.PRODUCT_DISCONTINUED)


def state_payload(product: ProductRow | PlainProduct) -> dict[str, Any]:
    """The product's full state as a JSON-safe event payload (amounts in minor units)."""
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "tags": list(product.tags),
        "priceMinor": to_minor_units(product.price),
        "stock": product.stock,
        "status": product.status,
        "version": product.version,
        "createdAt": as_utc(product.created_at).isoformat(),
        "updatedAt": as_utc(product.updated_at).isoformat(),
    }


def _check_details(
    checks: Checks, name: str | None, description: str | None, category: str | None, tags: tuple[str, ...] | None
) -> None:
    checks.text("name", name, max_length=MAX_NAME)
    checks.text("description", description, max_length=MAX_DESCRIPTION, required=False)
    checks.text("category", category, max_length=MAX_CATEGORY)
    checks.tags("tags", tags, max_count=MAX_TAGS, max_length=MAX_TAG)


def _clean_tags(tags: tuple[str, ...]) -> list[str]:
    """Trimmed, without repeats, in the order given."""
    return list(dict.fromkeys(tag.strip() for tag in tags))


def _load(uow: UnitOfWork, product_id: str, expected_version: int | None) -> ProductRow:
    product = found("product", product_id, uow.products.get(product_id))
    check_version("product", expected_version, product.version)
    return product


def record_change(uow: UnitOfWork, product: ProductRow | PlainProduct, event_type: str, reason: str | None = None
                  ) -> None:
    """Bump the version (a new product keeps 1) and record the event with the full new state.
    Also used by the order handlers for the stock an order reserves or releases."""
    if event_type != events.PRODUCT_CREATED:
        product.version += 1
        product.updated_at = utc_now()
    payload = state_payload(product)
    if reason is not None:
        payload["reason"] = reason
    uow.outbox.record(events.NewEvent(events.PRODUCT, product.id, product.version, event_type, payload))


def _commit(uow: UnitOfWork, product: ProductRow | PlainProduct, event_type: str, reason: str | None = None
            ) -> Accepted:
    record_change(uow, product, event_type, reason)
    position = uow.commit()
    return Accepted(product.id, product.version, position)
