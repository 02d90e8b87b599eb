"""Change events written to the outbox in the same transaction as the state they describe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRODUCT = "product"
CUSTOMER = "customer"
ORDER = "order"

PRODUCT_CREATED = "ProductCreated"
PRODUCT_UPDATED = "ProductUpdated"
STOCK_ADJUSTED = "StockAdjusted"
PRODUCT_DISCONTINUED = "ProductDiscontinued"
# Stock an order took or gave back: recorded on the product's own stream.
STOCK_RESERVED = "StockReserved"
STOCK_RELEASED = "StockReleased"

CUSTOMER_REGISTERED = "CustomerRegistered"
# The customer's personal data was erased: their key is gone, so every earlier event of theirs
# reads as erased (write_model/personal.py). Carries the erased state and "orderIds", the orders
# whose documents showed their name.
CUSTOMER_ERASED = "CustomerErased"

# Order events carry the order and, under "customer", the customer with the order
# statistics this change led to, so one event feeds both documents.
ORDER_PLACED = "OrderPlaced"
ORDER_CANCELLED = "OrderCancelled"
ORDER_SHIPPED = "OrderShipped"


@dataclass(frozen=True)
class NewEvent:
    """An event a handler records; the unit of work gives it its position on commit.

    `payload` carries the aggregate's full state after the change (a state-carrying event),
    so a projection can rebuild a document from any single event and replays stay simple.
    Amounts are whole minor units (`write_model.money`); see `upcasting` for older payloads.
    """

    stream_type: str
    stream_id: str
    stream_version: int
    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the outbox, in position order."""

    position: int
    event_id: str
    stream_type: str
    stream_id: str
    stream_version: int
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
