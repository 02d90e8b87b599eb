"""Subscriptions: change notifications, sent once the change is searchable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated, Any

import strawberry

from schema.auth import caller, require_customer_or_admin
from schema.consistency import decode_position, encode_position
from schema.context import Change, Context
from schema.errors import Forbidden, ServiceUnavailable
from schema.types import Order, Product

Info = strawberry.Info[Context, None]

# An application close code (4000-4999): the subscriber read too slowly and was dropped.
SLOW_SUBSCRIBER_CLOSE = 4460


@strawberry.type(description="Sent after the change is visible in the read model; `product` is the indexed document.")
class ProductChange:
    product_id: strawberry.ID
    event: str = strawberry.field(
        description="Event type, e.g. ProductCreated, ProductUpdated, StockAdjusted, ProductDiscontinued."
    )
    position: str
    product: Product | None


@strawberry.type
class OrderChange:
    order_id: strawberry.ID
    event: str = strawberry.field(description="Event type, e.g. OrderPlaced, OrderCancelled, OrderShipped.")
    position: str
    order: Order | None


AFTER_HELP = "Resume: first replay the changes after this `position` (from an earlier notification)."


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def product_changed(
        self, info: Info, id: strawberry.ID | None = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_HELP)] = None,
    ) -> AsyncGenerator[ProductChange, None]:
        """All products when `id` is null."""
        await caller(info)

        def matches(change: Change) -> bool:
            return change.stream_type == "product" and id in (None, change.stream_id)

        async for change in _changes(info, matches, after):
            yield ProductChange(
                product_id=strawberry.ID(change.stream_id), event=change.event_type,
                position=encode_position(change.position),
                product=Product.from_document(change.document) if change.document else None,
            )

    @strawberry.subscription
    async def order_changed(
        self, info: Info, id: strawberry.ID | None = None, customer_id: strawberry.ID | None = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_HELP)] = None,
    ) -> AsyncGenerator[OrderChange, None]:
        """Filter by order, by customer, or neither (all orders; admin only)."""
        owner = await _order_watcher(info, id, customer_id)

        def matches(change: Change) -> bool:
            return (change.stream_type == "order" and id in (None, change.stream_id)
                    and customer_id in (None, change.customer_id) and owner in (None, change.customer_id))

        async for change in _changes(info, matches, after):
            yield OrderChange(
                order_id=strawberry.ID(change.stream_id), event=change.event_type,
                position=encode_position(change.position),
                order=Order.from_document(change.document) if change.document else None,
            )


async def _order_watcher(info: Info, order_id: str | None, customer_id: str | None) -> str | None:
    """The customer whose orders this subscriber may watch (None: an admin, all of them)."""
    principal = await require_customer_or_admin(info)
    own = principal.customer_id
    if own is None:
        return None
    if order_id is None and customer_id is None:
        raise Forbidden("Customers subscribe to their own orders: pass `customerId` or an order `id`.")
    if customer_id not in (None, own):
        raise Forbidden("Customers may watch only their own orders.")
    if order_id is not None:
        document = await info.context.orders.get(order_id)
        if document is None or document["customerId"] != own:
            raise Forbidden("Customers may watch only their own orders.")
    return own


async def _changes(info: Info, matches: Callable[[Any], bool], after: str | None) -> AsyncIterator[Change]:
    close = info.context.close_connection

    async def drop_slow_subscriber() -> None:
        if close is not None:
            await close(SLOW_SUBSCRIBER_CLOSE, "subscriber too slow")
            # Ending normally would send "complete" on the closed socket; the connection's
            # teardown cancels this subscription instead.
            await asyncio.Event().wait()

    start = None if after is None else decode_position(after)
    async with info.context.changes.subscribe(matches, start, drop_slow_subscriber, ServiceUnavailable) as stream:
        async for change in stream:
            yield change
