"""Subscriptions: change notifications, sent once the change is searchable.

A subscriber joins the cohort of everyone with the same document, variables and authorization
scope, and gets the notifications rendered once for all of them (schema/notifications.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any

import strawberry

from schema.auth import caller, require_customer_or_admin, scope_of
from schema.consistency import decode_position, encode_position
from schema.context import Change, Context
from schema.errors import Forbidden, ServiceUnavailable
from schema.notifications import cohort_of, notification_sender, renderer
from schema.principal import Principal
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
        principal = await caller(info)
        async for notification in _notifications(info, principal, ("product", id, None), _product_change, after):
            yield notification

    @strawberry.subscription
    async def order_changed(
        self, info: Info, id: strawberry.ID | None = None, customer_id: strawberry.ID | None = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_HELP)] = None,
    ) -> AsyncGenerator[OrderChange, None]:
        """Filter by order, by customer, or neither (all orders; admin only)."""
        principal = await require_customer_or_admin(info)
        owner = await _order_owner(info, principal, id, customer_id)
        watched = ("order", id, customer_id if owner is None else owner)
        async for notification in _notifications(info, principal, watched, _order_change, after):
            yield notification


def _product_change(change: Change) -> ProductChange:
    return ProductChange(
        product_id=strawberry.ID(change.stream_id), event=change.event_type, position=encode_position(change.position),
        product=Product.from_document(change.document) if change.document else None,
    )


def _order_change(change: Change) -> OrderChange:
    return OrderChange(
        order_id=strawberry.ID(change.stream_id), event=change.event_type, position=encode_position(change.position),
        order=Order.from_document(change.document) if change.document else None,
    )


async def _order_owner(info: Info, principal: Principal, order_id: str | None, customer_id: str | None) -> str | None:
    """The customer whose orders this subscriber may watch (None: an admin, all of them)."""
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


async def _notifications(
    info: Info, principal: Principal, watched: tuple[str, str | None, str | None], root: Callable[[Change], object],
    after: str | None,
) -> AsyncIterator[Any]:
    """This subscriber's notifications of changes to the `watched` streams (type, id, customer),
    each rendered once for its cohort from the change's `root`. Over a WebSocket they are sent
    from here and nothing is yielded; an HTTP stream gets each yielded, and strawberry sends it
    as it was rendered (schema/notifications.py)."""
    close = info.context.close_connection
    send = notification_sender.get()

    async def drop_slow_subscriber() -> None:
        if close is not None:
            await close(SLOW_SUBSCRIBER_CLOSE, "subscriber too slow")
            # Ending normally would send "complete" on the closed socket; the connection's
            # teardown cancels this subscription instead.
            await asyncio.Event().wait()

    stream_type, stream_id, customer_id = watched
    async with info.context.changes.subscribe(
        stream_type, stream_id, customer_id, cohort=cohort_of(info, scope_of(principal)),
        prepare=partial(renderer, info, root), after=None if after is None else decode_position(after),
        on_overflow=drop_slow_subscriber, unavailable=ServiceUnavailable,
    ) as notifications:
        async for notification in notifications:
            if send is None:
                yield notification
            else:
                await send(notification.payload)
