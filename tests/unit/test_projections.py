from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from read_model.indices import CUSTOMERS, EVENT_MAPPING, EVENTS, ORDERS, PRODUCTS
from sync.projections import project
from write_model import events
from write_model.events import StoredEvent
from write_model.snapshots import StateRecord
from write_model.upcasting import upcast


def _event(payload: dict[str, Any], version: int = 3, stream_type: str = events.PRODUCT,
           stream_id: str = "p-1") -> StoredEvent:
    return StoredEvent(7, "e-1", stream_type, stream_id, version, events.STOCK_ADJUSTED, payload, OCCURRED_AT)


OCCURRED_AT = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)


PAYLOAD = {
    "id": "p-1", "sku": "MUG-1", "name": "Mug", "description": "A mug", "category": "kitchen",
    "tags": ["ceramic"], "priceMinor": 1250, "stock": 0, "status": "ACTIVE", "version": 3,
    "createdAt": "2026-01-01T00:00:00+00:00", "updatedAt": "2026-01-02T00:00:00+00:00",
}
# The same product as events stored it before amounts moved to minor units.
LEGACY_PAYLOAD = {**{key: value for key, value in PAYLOAD.items() if key != "priceMinor"}, "price": "12.50"}

CUSTOMER = {"id": "c-1", "email": "a@example.com", "name": "Ann", "orderCount": 1, "totalSpentMinor": 2505,
            "version": 1, "createdAt": "2026-01-01T00:00:00+00:00", "updatedAt": "2026-01-01T00:00:00+00:00"}
ORDER = {
    "id": "o-1", "customerId": "c-1", "customerName": "Ann", "status": "PLACED", "totalMinor": 2505, "version": 1,
    "lines": [{"productId": "p-1", "sku": "MUG-1", "name": "Mug", "quantity": 2, "unitPriceMinor": 1250,
               "lineTotalMinor": 2500},
              {"productId": "p-2", "sku": "PIN-1", "name": "Pin", "quantity": 1, "unitPriceMinor": 5,
               "lineTotalMinor": 5}],
    "placedAt": "2026-01-01T00:00:00+00:00", "updatedAt": "2026-01-01T00:00:00+00:00",
}
LEGACY_ORDER = {
    **{key: value for key, value in ORDER.items() if key not in ("totalMinor", "lines")}, "total": "25.05",
    "lines": [{"productId": "p-1", "sku": "MUG-1", "name": "Mug", "quantity": 2, "unitPrice": "12.50",
               "lineTotal": "25.00"},
              {"productId": "p-2", "sku": "PIN-1", "name": "Pin", "quantity": 1, "unitPrice": "0.05",
               "lineTotal": "0.05"}],
    "customer": {**{key: value for key, value in CUSTOMER.items() if key != "totalSpentMinor"}, "totalSpent": "25.05"},
}


def test_a_product_event_becomes_one_versioned_document_and_its_event() -> None:
    operation, event = project(_event(PAYLOAD), "EUR")
    assert event.index is EVENTS
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


def test_an_order_event_feeds_the_order_and_its_customer_with_amounts_as_decimal_text() -> None:
    order, customer, event = project(_event({**ORDER, "customer": CUSTOMER}, 1, events.ORDER, "o-1"), "EUR")
    assert event.index is EVENTS
    assert (order.index, order.id, order.version) == (ORDERS, "o-1", 1)
    assert (order.document["total"], order.document["totalMinor"]) == ("25.05", 2505)
    assert [(line["unitPrice"], line["lineTotal"]) for line in order.document["lines"]] == [
        ("12.50", "25.00"), ("0.05", "0.05")]
    assert (customer.index, customer.id, customer.version) == (CUSTOMERS, "c-1", 7)  # by position
    assert (customer.document["totalSpent"], customer.document["totalSpentMinor"]) == ("25.05", 2505)


def test_events_stored_with_decimal_text_project_as_they_did() -> None:
    legacy_product = upcast(events.PRODUCT, LEGACY_PAYLOAD)
    assert project(_event(legacy_product), "EUR") == project(_event(PAYLOAD), "EUR")
    legacy_order = upcast(events.ORDER, LEGACY_ORDER)
    current_order = {**ORDER, "customer": CUSTOMER}
    assert project(_event(legacy_order, 1, events.ORDER, "o-1"), "EUR") == project(
        _event(current_order, 1, events.ORDER, "o-1"), "EUR")
    assert upcast(events.ORDER, current_order) == current_order  # today's shape is left as it is


def test_a_snapshot_state_projects_like_its_event_with_the_same_versions() -> None:
    """Only to its aggregate's document: a state is not an event of the log."""
    position = 40
    [product] = project(StateRecord(position, events.PRODUCT, "p-1", 3, PAYLOAD), "EUR")
    assert product == project(_event(PAYLOAD), "EUR")[0]
    [customer] = project(StateRecord(position, events.CUSTOMER, "c-1", 1, CUSTOMER), "EUR")
    assert (customer.index, customer.version) == (CUSTOMERS, position)
    # An order's state carries no customer: it feeds the order alone.
    [order] = project(StateRecord(position, events.ORDER, "o-1", 1, ORDER), "EUR")
    assert (order.index, order.version) == (ORDERS, 1)


def test_an_event_is_indexed_at_its_position_with_the_state_its_aggregate_got() -> None:
    product, event = project(_event(PAYLOAD), "EUR")
    assert (event.id, event.version) == ("7", 7)
    document = event.document
    assert {key: document[key] for key in ("position", "type", "streamType", "streamId", "ownerId", "version")} == {
        "position": 7, "type": events.STOCK_ADJUSTED, "streamType": events.PRODUCT, "streamId": "p-1",
        "ownerId": None, "version": 3}
    assert datetime.fromisoformat(document["occurredAt"]) == OCCURRED_AT
    assert document["state"] == product.document


def test_event_data_shows_amounts_as_decimal_text_without_minor_units() -> None:
    [_product, event] = project(_event(PAYLOAD), "EUR")
    data = event.document["data"]
    assert (data["price"], data["currency"], data["stock"], data["inStock"]) == ("12.50", "EUR", 0, False)
    assert not [key for key in data if key.endswith("Minor")]


def test_an_order_event_shows_its_customer_and_belongs_to_them() -> None:
    order, _customer, event = project(_event({**ORDER, "customer": CUSTOMER, "reason": "changed my mind"}, 2,
                                             events.ORDER, "o-1"), "EUR")
    data = event.document["data"]
    assert event.document["ownerId"] == "c-1"
    assert event.document["state"] == order.document
    assert (data["total"], data["customer"]["totalSpent"], data["reason"]) == ("25.05", "25.05", "changed my mind")
    assert [(line["unitPrice"], line["lineTotal"]) for line in data["lines"]] == [("12.50", "25.00"), ("0.05", "0.05")]
    assert "totalMinor" not in data and "totalSpentMinor" not in data["customer"]


def test_a_customer_owns_their_own_stream() -> None:
    _customer, event = project(_event(CUSTOMER, 1, events.CUSTOMER, "c-1"), "EUR")
    assert (event.document["ownerId"], event.document["data"]["totalSpent"]) == ("c-1", "25.05")


def test_event_documents_fit_the_strict_events_mapping() -> None:
    records = [_event(PAYLOAD), _event({**ORDER, "customer": CUSTOMER}, 1, events.ORDER, "o-1"),
               _event(CUSTOMER, 1, events.CUSTOMER, "c-1")]
    for record in records:
        [event] = [document for document in project(record, "EUR") if document.index is EVENTS]
        assert event.document.keys() == EVENT_MAPPING["properties"].keys()

