"""Pure projections: one outbox event in, the index operations it implies out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from read_model.indices import CUSTOMERS, ORDERS, PRODUCTS, IndexDefinition
from read_model.products import to_minor_units
from write_model import events
from write_model.events import StoredEvent


@dataclass(frozen=True)
class IndexDocument:
    """Put `document` at `id`, unless the index already holds this `version` or a newer one."""

    index: IndexDefinition
    id: str
    version: int
    document: dict[str, Any]


def project(event: StoredEvent, currency: str) -> list[IndexDocument]:
    """Products and orders are versioned by their aggregate version. A customer document is
    fed by the customer's and by its orders' events, so it is versioned by the global event
    position instead: whichever event is newest wins, whatever order they are replayed in."""
    payload = event.payload
    if event.stream_type == events.PRODUCT:
        return [IndexDocument(PRODUCTS, event.stream_id, event.stream_version, product_document(payload, currency))]
    if event.stream_type == events.CUSTOMER:
        return [IndexDocument(CUSTOMERS, event.stream_id, event.position, customer_document(payload, currency))]
    if event.stream_type == events.ORDER:
        customer = payload["customer"]
        return [
            IndexDocument(ORDERS, event.stream_id, event.stream_version, order_document(payload, currency)),
            IndexDocument(CUSTOMERS, customer["id"], event.position, customer_document(customer, currency)),
        ]
    return []


def product_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": state["id"],
        "sku": state["sku"],
        "name": state["name"],
        "description": state["description"],
        "category": state["category"],
        "tags": state["tags"],
        "price": state["price"],
        "priceMinor": to_minor_units(Decimal(state["price"])),
        "currency": currency,
        "stock": state["stock"],
        "inStock": state["stock"] > 0,
        "status": state["status"],
        "version": state["version"],
        "createdAt": state["createdAt"],
        "updatedAt": state["updatedAt"],
    }


def customer_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": state["id"],
        "email": state["email"],
        "name": state["name"],
        "orderCount": state["orderCount"],
        "totalSpent": state["totalSpent"],
        "totalSpentMinor": to_minor_units(Decimal(state["totalSpent"])),
        "currency": currency,
        "version": state["version"],
        "createdAt": state["createdAt"],
        "updatedAt": state["updatedAt"],
    }


def order_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": state["id"],
        "customerId": state["customerId"],
        "customerName": state["customerName"],
        "status": state["status"],
        "lines": state["lines"],
        "total": state["total"],
        "totalMinor": to_minor_units(Decimal(state["total"])),
        "currency": currency,
        "version": state["version"],
        "placedAt": state["placedAt"],
        "updatedAt": state["updatedAt"],
    }
