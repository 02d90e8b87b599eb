"""Change notifications, sent once a change is searchable.

Every API process runs one feed. It follows the indexed position (pushed by an in-process
worker, else polled from the worker's durable checkpoint), reads the events up to it from
the outbox and hands each to the matching subscribers with the indexed document. So a
notification never arrives before the read model has the change, every process sees every
change in position order, and a subscriber that was away resumes from its last position
by replaying the outbox. No broker is needed: the outbox and the checkpoint are the truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from read_model.errors import InvalidCursor
from read_model.orders import OrderStore
from read_model.products import ProductStore
from sync.positions import IndexedPosition
from write_model import events
from write_model.events import StoredEvent
from write_model.outbox import Outbox

log = logging.getLogger(__name__)

NOTIFIED_STREAMS = (events.PRODUCT, events.ORDER)
READ_BATCH = 500


@dataclass(frozen=True)
class Change:
    stream_type: str
    stream_id: str
    event_type: str
    position: int
    customer_id: str | None
    document: dict[str, Any] | None


Matcher = Callable[[Change], bool]


OnOverflow = Callable[[], Awaitable[None]]


class _Subscriber:
    def __init__(self, matches: Matcher, capacity: int) -> None:
        self.matches = matches
        self._queue: asyncio.Queue[Change] = asyncio.Queue(capacity)
        self._overflowed = False

    def offer(self, change: Change) -> None:
        if self._overflowed or not self.matches(change):
            return
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            # Dropping silently would break "every change, in order"; the subscriber goes instead.
            self._overflowed = True

    async def next(self) -> Change | None:
        """The next change, or None once the subscriber has overflowed."""
        if self._overflowed:
            return None
        return await self._queue.get()


class ChangeFeed:
    def __init__(
        self,
        outbox: Outbox,
        positions: IndexedPosition,
        products: ProductStore,
        orders: OrderStore,
        registry: CollectorRegistry,
        buffer_size: int = 256,
        max_replay: int = 10_000,
    ) -> None:
        self._outbox = outbox
        self._positions = positions
        self._documents = {events.PRODUCT: products.get_many, events.ORDER: orders.get_many}
        self._buffer_size = buffer_size
        # Publishing at most half a buffer at once, with I/O between batches, lets every
        # subscriber that keeps up drain in time: only one that stays behind overflows.
        self._publish_batch = max(1, min(READ_BATCH, buffer_size // 2))
        self._max_replay = max_replay
        self._subscribers: set[_Subscriber] = set()
        self._published: int | None = None
        self._open = Gauge("storefront_subscriptions_open", "Subscriptions open in this process.", registry=registry)
        self._open.set_function(lambda: len(self._subscribers))

    @property
    def open_subscriptions(self) -> int:
        return len(self._subscribers)

    async def run(self, poll_s: float = 1.0) -> None:
        """Publish every change as it becomes searchable, until cancelled. A failure (database or
        Elasticsearch away) is logged and retried from the last published position."""
        published = self._published = await self._positions.current()
        while True:
            try:
                if await self._positions.wait_for(published + 1, poll_s):
                    published = await self._publish_up_to(published, await self._positions.current())
            except Exception:
                log.warning("change feed failed at position %s; retrying", published, exc_info=True)
                await asyncio.sleep(poll_s)

    async def _publish_up_to(self, published: int, indexed: int) -> int:
        while published < indexed:
            # Positions have no gaps, so this reads exactly the events up to `indexed`.
            batch = await self._outbox.read_after(published, min(self._publish_batch, indexed - published))
            for change in await self._changes(batch):
                for subscriber in list(self._subscribers):
                    subscriber.offer(change)
            published = self._published = batch[-1].position
            await asyncio.sleep(0)  # let subscribers take what they were just given
        return published

    @asynccontextmanager
    async def subscribe(
        self, matches: Matcher, after: int | None = None, on_overflow: OnOverflow | None = None
    ) -> AsyncIterator[AsyncIterator[Change]]:
        """Changes that match, live; first those after position `after` when resuming. A subscriber
        whose buffer overflows gets `on_overflow` called, and its stream ends."""
        while self._published is None:  # the feed is starting
            await asyncio.sleep(0.01)
        subscriber = _Subscriber(matches, self._buffer_size)
        self._subscribers.add(subscriber)
        try:
            yield self._stream(subscriber, after, self._published, on_overflow)
        finally:
            self._subscribers.discard(subscriber)

    async def _stream(
        self, subscriber: _Subscriber, after: int | None, replay_to: int, on_overflow: OnOverflow | None
    ) -> AsyncIterator[Change]:
        if after is not None and after < replay_to:
            if replay_to - after > self._max_replay:
                raise InvalidCursor(f"`after` is more than {self._max_replay} changes behind; query afresh and "
                                    "subscribe without it")
            position = after
            while position < replay_to:
                batch = await self._outbox.read_after(position, min(READ_BATCH, replay_to - position))
                for replayed in await self._changes(batch):
                    if subscriber.matches(replayed):
                        yield replayed
                position = batch[-1].position
        while (change := await subscriber.next()) is not None:
            if after is None or change.position > after:  # the feed may publish `after` itself just now
                yield change
        log.warning("dropped a subscriber whose buffer of %s changes overflowed", self._buffer_size)
        if on_overflow is not None:
            await on_overflow()

    async def _changes(self, batch: list[StoredEvent]) -> list[Change]:
        """The notified events of a batch, each with its indexed document (one lookup per kind)."""
        notified = [event for event in batch if event.stream_type in NOTIFIED_STREAMS]
        documents: dict[str, dict[str, dict[str, Any]]] = {}
        for stream_type, get_many in self._documents.items():
            ids = sorted({event.stream_id for event in notified if event.stream_type == stream_type})
            documents[stream_type] = await get_many(ids)
        return [
            Change(event.stream_type, event.stream_id, event.event_type, event.position,
                   event.payload.get("customerId"), documents[event.stream_type].get(event.stream_id))
            for event in notified
        ]
