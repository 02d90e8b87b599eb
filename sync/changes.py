"""Change notifications, sent once a change is searchable.

Every API process runs one feed. It follows the indexed position (pushed by an in-process
worker, else polled from the worker's durable checkpoint), reads the events up to it from
the outbox and hands each to the matching subscribers with the indexed document. So a
notification never arrives before the read model has the change, every process sees every
change in position order, and a subscriber that was away resumes from its last position
by replaying the outbox. No broker is needed: the outbox and the checkpoint are the truth.

A failure (the database or Elasticsearch away) ends `run`; running it again (the server's
supervisor does) resumes from the last published position, so no subscriber misses a change.
Subscribers never wait long on a feed that is not running: a new one waits at most
`unavailable_after_s` for it, and those already subscribed are cut off once it has been down
that long; both get the caller's `unavailable` error, saying to subscribe again later.
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
from read_model.indices import ORDERS, PRODUCTS
from sync.errors import SyncError
from sync.positions import IndexedPositionTracker
from sync.projections import project
from write_model import events
from write_model.events import StoredEvent
from write_model.outbox import Outbox

log = logging.getLogger(__name__)

# The streams that have subscriptions, and the index holding each one's own documents.
NOTIFIED_STREAMS = {events.PRODUCT: PRODUCTS, events.ORDER: ORDERS}
READ_BATCH = 500
UNAVAILABLE = ("Change notifications are unavailable right now; subscribe again shortly, passing the last `position` "
               "you received as `after`.")


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
# Builds the error a subscriber gets when the feed is not running, from a message for people.
Unavailable = Callable[[str], Exception]


class FeedUnavailable(SyncError):
    """The change feed is not running (the default `Unavailable` error)."""


class _Subscriber:
    def __init__(self, matches: Matcher, capacity: int) -> None:
        self.matches = matches
        # None, queued after the buffered changes, wakes a waiting subscriber that was cut off.
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(capacity + 1)
        self._capacity = capacity
        self._overflowed = False
        self.cut_off = False

    def offer(self, change: Change) -> None:
        if self._overflowed or self.cut_off or not self.matches(change):
            return
        if self._queue.qsize() >= self._capacity:
            # Dropping silently would break "every change, in order"; the subscriber goes instead.
            self._overflowed = True
            return
        self._queue.put_nowait(change)

    def cut(self) -> None:
        """End this subscriber's stream, after what it was already given: the feed is down."""
        if not self.cut_off:
            self.cut_off = True
            self._queue.put_nowait(None)

    async def next(self) -> Change | None:
        """The next change, or None once the subscriber has overflowed or was cut off."""
        if self._overflowed:
            return None
        return await self._queue.get()


class ChangeFeed:
    def __init__(
        self,
        outbox: Outbox,
        indexed_position: IndexedPositionTracker,
        currency: str,
        registry: CollectorRegistry,
        buffer_size: int = 256,
        max_replay: int = 10_000,
        unavailable_after_s: float = 5.0,
    ) -> None:
        self._outbox = outbox
        self._indexed_position = indexed_position
        self._currency = currency
        self._buffer_size = buffer_size
        # Publishing at most half a buffer at once, with I/O between batches, lets every
        # subscriber that keeps up drain in time: only one that stays behind overflows.
        self._publish_batch = max(1, min(READ_BATCH, buffer_size // 2))
        self._max_replay = max_replay
        self._unavailable_after_s = unavailable_after_s
        self._subscribers: set[_Subscriber] = set()
        self._published: int | None = None
        self._running = asyncio.Event()
        self._cut_off_timer: asyncio.TimerHandle | None = None
        self._open = Gauge("storefront_subscriptions_open", "Subscriptions open in this process.", registry=registry)
        self._open.set_function(lambda: len(self._subscribers))

    @property
    def open_subscriptions(self) -> int:
        return len(self._subscribers)

    async def run(self, poll_s: float = 1.0) -> None:
        """Publish every change as it becomes searchable, until cancelled or until a failure, which
        it raises; run it again to resume from the last published position."""
        try:
            indexed = await self._indexed_position.current()
            if self._published is None:  # the first run; later ones must not skip what came meanwhile
                self._published = indexed
            published = self._published
            self._running.set()
            while True:
                if await self._indexed_position.wait_for(published + 1, poll_s):
                    published = await self._publish_up_to(published, await self._indexed_position.current())
                self._recovered()
        except Exception:
            self._set_down()
            raise
        finally:
            self._running.clear()

    def _recovered(self) -> None:
        """A round went through: the feed works again (not merely started, which a feed that fails
        on each publish also does)."""
        if self._cut_off_timer is not None:
            self._cut_off_timer.cancel()
            self._cut_off_timer = None

    def _set_down(self) -> None:
        if self._cut_off_timer is None:  # down since the first failure, not the latest
            self._cut_off_timer = asyncio.get_running_loop().call_later(self._unavailable_after_s, self._cut_off)

    def _cut_off(self) -> None:
        self._cut_off_timer = None
        log.warning("change feed down for %ss; cutting off %s subscribers", self._unavailable_after_s,
                    len(self._subscribers))
        for subscriber in self._subscribers:
            subscriber.cut()

    async def _publish_up_to(self, published: int, indexed: int) -> int:
        while published < indexed:
            # Positions have no gaps, so this reads exactly the events up to `indexed`.
            batch = await self._outbox.read_after(published, min(self._publish_batch, indexed - published))
            for change in self._changes(batch):
                for subscriber in list(self._subscribers):
                    subscriber.offer(change)
            published = self._published = batch[-1].position
            await asyncio.sleep(0)  # let subscribers take what they were just given
        return published

    @asynccontextmanager
    async def subscribe(
        self, matches: Matcher, after: int | None = None, on_overflow: OnOverflow | None = None,
        unavailable: Unavailable = FeedUnavailable,
    ) -> AsyncIterator[AsyncIterator[Change]]:
        """Changes that match, live; first those after position `after` when resuming. A subscriber
        whose buffer overflows gets `on_overflow` called, and its stream ends. While the feed is not
        running (see the module's docstring) this raises, or the stream raises, `unavailable(...)`."""
        try:
            async with asyncio.timeout(self._unavailable_after_s):
                await self._running.wait()
        except TimeoutError:
            raise unavailable(UNAVAILABLE) from None
        assert self._published is not None  # set before the feed first runs
        subscriber = _Subscriber(matches, self._buffer_size)
        self._subscribers.add(subscriber)
        try:
            yield self._stream(subscriber, after, self._published, on_overflow, unavailable)
        finally:
            self._subscribers.discard(subscriber)

    async def _stream(
        self, subscriber: _Subscriber, after: int | None, replay_to: int, on_overflow: OnOverflow | None,
        unavailable: Unavailable,
    ) -> AsyncIterator[Change]:
        if after is not None and after < replay_to:
            if replay_to - after > self._max_replay:
                raise InvalidCursor(f"`after` is more than {self._max_replay} changes behind; query afresh and "
                                    "subscribe without it")
            position = after
            while position < replay_to:
                batch = await self._outbox.read_after(position, min(READ_BATCH, replay_to - position))
                for replayed in self._changes(batch):
                    if subscriber.matches(replayed):
                        yield replayed
                position = batch[-1].position
        while (change := await subscriber.next()) is not None:
            if after is None or change.position > after:  # the feed may publish `after` itself just now
                yield change
        if subscriber.cut_off:
            raise unavailable(UNAVAILABLE)
        log.warning("dropped a subscriber whose buffer of %s changes overflowed", self._buffer_size)
        if on_overflow is not None:
            await on_overflow()

    def _changes(self, batch: list[StoredEvent]) -> list[Change]:
        """The notified events of a batch, each with the document the worker indexed for that very
        event: its projection, by the same `project()`. Fetching the documents when the batch is
        published would give every event of a burst the state after the last one."""
        return [
            Change(event.stream_type, event.stream_id, event.event_type, event.position,
                   event.payload.get("customerId"), self._document_of(event))
            for event in batch if event.stream_type in NOTIFIED_STREAMS
        ]

    def _document_of(self, event: StoredEvent) -> dict[str, Any] | None:
        index = NOTIFIED_STREAMS[event.stream_type]
        return next((target.document for target in project(event, self._currency)
                     if target.index is index and target.id == event.stream_id), None)
