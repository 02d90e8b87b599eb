"""Pure projections: one outbox event in, the index operations it implies out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from read_model.indices import PRODUCTS, IndexDefinition
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
    if event.stream_type == events.PRODUCT:
        return [IndexDocument(PRODUCTS, event.stream_id, event.stream_version, product_document(event.payload, currency))]
    return []


def product_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    price = Decimal(state["price"])
    return {
        "id": state["id"],
        "sku": state["sku"],
        "name": state["name"],
        "description": state["description"],
        "category": state["category"],
        "tags": state["tags"],
        "price": state["price"],
        "priceMinor": to_minor_units(price),
        "currency": currency,
        "stock": state["stock"],
        "inStock": state["stock"] > 0,
        "status": state["status"],
        "version": state["version"],
        "createdAt": state["createdAt"],
        "updatedAt": state["updatedAt"],
    }
