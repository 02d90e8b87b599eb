"""Pure projections: one outbox event (or a snapshot's state record) in, the index operations
it implies out. The worker, reindex, replay and dead-letter redelivery all project through `project`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from read_model.indices import CUSTOMERS, EVENTS, ORDERS, PRODUCTS, IndexDefinition
from write_model import events
from write_model.events import StoredEvent
from write_model.money import from_minor_units
from write_model.snapshots import StateRecord

Record = StoredEvent | StateRecord
"""What carries an aggregate's state: an event of the log, or the state as a snapshot read it."""


@dataclass(frozen=True)
class IndexDocument:
    """Put `document` at `id`, unless the index already holds this `version` or a newer one
    (`rewrite`: unless it holds a newer one, so that this very version is replaced; see
    sync/erasure.py)."""

    index: IndexDefinition
    id: str
    version: int
    document: dict[str, Any]
    rewrite: bool = False


def project(record: Record, currency: str) -> list[IndexDocument]:
    """Products and orders are versioned by their aggregate version. A customer document is
    fed by the customer's and by its orders' events, so it is versioned by the global event
    position instead: whichever event is newest wins, whatever order they are replayed in. A
    snapshot's records stand at the snapshot's position: after every event they reflect, before
    every event they do not. An event of the log (not a snapshot's state) also goes into the
    events index, after the documents of its aggregate."""
    documents = _state_documents(record, currency)
    if isinstance(record, StoredEvent) and documents:
        documents.append(_event_document(record, documents))
    return documents


def _event_document(event: StoredEvent, documents: list[IndexDocument]) -> IndexDocument:
    """The events index's document for `event`, from the documents the event projects to (its
    own aggregate's first): at its position, so a replay writes it once. `state` keeps the
    aggregate's document as of this event, for reading the aggregate as it was; `data` is the
    event as the API shows it, with the state of the customer an order event carries."""
    own, *related = documents
    data = _as_shown(own.document)
    if related:  # an order event's customer
        [customer] = related
        data["customer"] = _as_shown(customer.document)
    if "reason" in event.payload:
        data["reason"] = event.payload["reason"]
    return IndexDocument(EVENTS, str(event.position), event.position, {
        "position": event.position,
        "type": event.event_type,
        "streamType": event.stream_type,
        "streamId": event.stream_id,
        "ownerId": _owner(event.stream_type, own.document),
        "version": event.stream_version,
        "occurredAt": event.occurred_at.isoformat(),
        "data": data,
        "state": own.document,
    })


def _as_shown(document: dict[str, Any]) -> dict[str, Any]:
    """A document without the minor units it keeps for filters and sorting: amounts stay decimal text."""
    return {key: value for key, value in document.items() if not key.endswith("Minor")}


def _owner(stream_type: str, document: dict[str, Any]) -> str | None:
    """The customer whose stream this is: a customer owns their record and their orders."""
    if stream_type == events.CUSTOMER:
        owner: str = document["id"]
        return owner
    if stream_type == events.ORDER:
        customer_id: str = document["customerId"]
        return customer_id
    return None


def _state_documents(record: Record, currency: str) -> list[IndexDocument]:
    payload = record.payload
    if record.stream_type == events.PRODUCT:
        return [IndexDocument(PRODUCTS, record.stream_id, record.stream_version, product_document(payload, currency))]
    if record.stream_type == events.CUSTOMER:
        return [_customer(payload, record.position, currency)]
    if record.stream_type == events.ORDER:
        order = IndexDocument(ORDERS, record.stream_id, record.stream_version, _order_document(payload, currency))
        # Order events also carry their customer; an order's state from a snapshot does not.
        customer = payload.get("customer")
        return [order] if customer is None else [order, _customer(customer, record.position, currency)]
    return []


def _customer(state: dict[str, Any], position: int, currency: str) -> IndexDocument:
    return IndexDocument(CUSTOMERS, state["id"], position, _customer_document(state, currency))


def product_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    """A product's document from its state (public for the benchmarks' raw baselines)."""
    return {
        "id": state["id"],
        "sku": state["sku"],
        "name": state["name"],
        "description": state["description"],
        "category": state["category"],
        "tags": state["tags"],
        "price": from_minor_units(state["priceMinor"]),
        "priceMinor": state["priceMinor"],
        "currency": currency,
        "stock": state["stock"],
        "inStock": state["stock"] > 0,
        "status": state["status"],
        "version": state["version"],
        "createdAt": state["createdAt"],
        "updatedAt": state["updatedAt"],
    }


def _customer_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": state["id"],
        "email": state["email"],
        "name": state["name"],
        "orderCount": state["orderCount"],
        "totalSpent": from_minor_units(state["totalSpentMinor"]),
        "totalSpentMinor": state["totalSpentMinor"],
        "currency": currency,
        "version": state["version"],
        "createdAt": state["createdAt"],
        "updatedAt": state["updatedAt"],
    }


def _order_document(state: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": state["id"],
        "customerId": state["customerId"],
        "customerName": state["customerName"],
        "status": state["status"],
        "lines": [_line(line) for line in state["lines"]],
        "total": from_minor_units(state["totalMinor"]),
        "totalMinor": state["totalMinor"],
        "currency": currency,
        "version": state["version"],
        "placedAt": state["placedAt"],
        "updatedAt": state["updatedAt"],
    }


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "productId": line["productId"],
        "sku": line["sku"],
        "name": line["name"],
        "quantity": line["quantity"],
        "unitPrice": from_minor_units(line["unitPriceMinor"]),
        "lineTotal": from_minor_units(line["lineTotalMinor"]),
    }
