from __future__ import annotations

from datetime import UTC, datetime

from read_model.indices import PRODUCTS
from sync.projections import project
from write_model import events
from write_model.events import StoredEvent


def _event(payload: dict[str, object], version: int = 3) -> StoredEvent:
    return StoredEvent(7, "e-1", events.PRODUCT, "p-1", version, events.STOCK_ADJUSTED, payload,
                       datetime.now(UTC))


PAYLOAD = {
    "id": "p-1", "sku": "MUG-1", "name": "Mug", "description": "A mug", "category": "kitchen",
    "tags": ["ceramic"], "price": "12.50", "stock": 0, "status": "ACTIVE", "version": 3,
    "createdAt": "2026-01-01T00:00:00+00:00", "updatedAt": "2026-01-02T00:00:00+00:00",
}


def test_a_product_event_becomes_one_versioned_document() -> None:
    [operation] = project(_event(PAYLOAD), "EUR")
    assert operation.index is PRODUCTS
    assert (operation.id, operation.version) == ("p-1", 3)
    assert operation.document["priceMinor"] == 1250
    assert operation.document["price"] == "12.50"
    assert operation.document["currency"] == "EUR"
    assert operation.document["inStock"] is False


def test_projection_is_pure() -> None:
    event = _event(PAYLOAD)
    assert project(event, "USD") == project(event, "USD")
    assert event.payload == PAYLOAD


def test_unknown_streams_project_to_nothing() -> None:
    event = StoredEvent(1, "e", "something-else", "x", 1, "Whatever", {}, datetime.now(UTC))
    assert project(event, "USD") == []
