"""Change notifications, sent once a change is searchable.

Every API process runs one feed. It follows the indexed position (pushed by an in-process
worker, else polled from the worker's durable checkpoint), reads the events up to it from
the outbox and hands each to the subscribers watching it with the indexed document. So a
notification never arrives before the read model has the change, every process sees every
change in position order, and a subscriber that was away resumes from its last position
by replaying the outbox. No broker is needed: the outbox and the checkpoint are the truth.

Subscribers who are to be sent the same bytes form a cohort (the caller names it: the schema
groups by document, variables and authorization scope). The feed finds the cohorts a change
concerns through an index on what they watch, renders the change once per cohort (the caller's
`render` executes and encodes it) and puts that one notification into every member's buffer. Each
member keeps a buffer of its own, so a subscriber that reads too slowly is dropped alone.

A failure (the database or Elasticsearch away) ends `run`; running it again (the server's
supervisor does) resumes from the last published position, so no subscriber misses a change.
Subscribers never wait long on a feed that is not running: a new one waits at most
`unavailable_after_s` for it, and those already subscribed are cut off once it has been down
that long; both get the caller's `unavailable` error, saying to subscribe again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

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

N = TypeVar("N")  # a rendered notification, as the caller's `render` makes it


@dataclass(frozen=True)
class Change:
    stream_type: str
    stream_id: str
    event_type: str
    position: int
    customer_id: str | None
    document: dict[str, Any] | None


class Interest(NamedTuple):
    """The changes a cohort watches: those of one stream type, narrowed (where not None) to one
    stream and to the streams of one customer."""

    stream_type: str
    stream_id: str | None = None
    customer_id: str | None = None

    def matches(self, change: Change) -> bool:
        return (self.stream_type == change.stream_type and self.stream_id in (None, change.stream_id)
                and self.customer_id in (None, change.customer_id))


def interests_in(change: Change) -> set[Interest]:
    """Every interest that `change` matches: where the index holds the cohorts it concerns."""
    return {Interest(change.stream_type, stream_id, customer_id)
            for stream_id in (change.stream_id, None) for customer_id in (change.customer_id, None)}


# Executes and encodes a change for a cohort. Synchronous, so that publishing a change to every
# cohort is one step that no subscription can join halfway through (and miss the change).
Render = Callable[[Change], N]
OnOverflow = Callable[[], Awaitable[None]]
# Builds the error a subscriber gets when the feed is not running, from a message for people.
Unavailable = Callable[[str], Exception]


class FeedUnavailable(SyncError):
    """The change feed is not running (the default `Unavailable` error)."""


class Member(Generic[N]):
    """One subscriber's buffer of notifications (with their positions): bounded, in order, ended by
    an overflow or by the feed going down."""

    __slots__ = ("_capacity", "_notifications", "_overflowed", "_waiter", "cut_off")

    def __init__(self, capacity: int) -> None:
        # A list, not a deque: an idle subscriber's empty one costs 56 bytes, not 624, and it is short.
        self._notifications: list[tuple[int, N]] = []
        self._capacity = capacity
        self._waiter: asyncio.Future[None] | None = None
        self._overflowed = False
        self.cut_off = False

    def offer(self, position: int, notification: N) -> bool:
        """Give the subscriber a notification; False once its buffer has overflowed."""
        if self._overflowed or self.cut_off:
            return not self._overflowed
        if len(self._notifications) >= self._capacity:
            # Dropping silently would break "every change, in order"; the subscriber goes instead.
            self._overflowed = True
        else:
            self._notifications.append((position, notification))
        self._wake()
        return not self._overflowed

    def cut(self) -> None:
        """End this subscriber's stream, after what it was already given: the feed is down."""
        self.cut_off = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> tuple[int, N] | None:
        """The next notification, or None once the subscriber has overflowed or was cut off."""
        while not self._overflowed:
            if self._notifications:
                return self._notifications.pop(0)
            if self.cut_off:
                break
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return None


class _Cohort(Generic[N]):
    """Subscribers sent the same notifications, and how to render a change for them."""

    __slots__ = ("interest", "key", "members", "render")

    def __init__(self, key: Hashable, interest: Interest, render: Render[N]) -> None:
        self.key = key
        self.interest = interest
        self.render = render
        self.members: set[Member[N]] = set()


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
        self._cohorts: dict[Hashable, _Cohort[Any]] = {}
        self._watching: dict[Interest, set[_Cohort[Any]]] = {}
        self._members = 0
        self._published: int | None = None
        # With nobody subscribed the feed reads nothing: a process with no subscribers polling the
        # checkpoint every 50 ms spent 8% of a core idle (bench/README.md, R1).
        self._parked = False
        self._subscribed = asyncio.Event()
        self._running = asyncio.Event()
        self._cut_off_timer: asyncio.TimerHandle | None = None
        members = Gauge("storefront_subscriptions_open", "Subscriptions open in this process: the members of its "
                        "cohorts.", registry=registry)
        members.set_function(lambda: self._members)
        cohorts = Gauge("storefront_subscription_cohorts", "Cohorts of subscriptions sent the same notifications "
                        "(same document, variables and authorization scope).", registry=registry)
        cohorts.set_function(lambda: len(self._cohorts))
        self._renders = Counter("storefront_subscription_renders", "Changes executed and encoded for a cohort (every "
                                "member is sent the same bytes), or for one subscriber's replay.", registry=registry)

    @property
    def open_subscriptions(self) -> int:
        return self._members

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
                if not self._members:
                    published = await self._park()
                if await self._indexed_position.wait_for(published + 1, poll_s):
                    published = await self._publish_up_to(published, await self._indexed_position.current())
                self._recovered()
        except Exception:
            self._set_down()
            raise
        finally:
            self._running.clear()

    async def _park(self) -> int:
        """Wait for a subscriber; the first one has moved the published position up to its own start."""
        self._parked = True
        self._subscribed.clear()
        try:
            await self._subscribed.wait()
        finally:
            self._parked = False
        assert self._published is not None
        return self._published

    async def _start_from_now(self, unavailable: Unavailable) -> None:
        """While the feed is parked it has published nothing: a subscriber starts where the read
        model is now, not at the changes nobody was watching."""
        try:
            indexed = await self._indexed_position.current()
        except Exception as error:  # the database is away: nothing to be sent yet, subscribe later
            raise unavailable(UNAVAILABLE) from error
        if self._parked and self._published is not None:  # still parked after the read
            self._published = max(self._published, indexed)

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
        log.warning("change feed down for %ss; cutting off %s subscribers", self._unavailable_after_s, self._members)
        for cohort in self._cohorts.values():
            for member in cohort.members:
                member.cut()

    async def _publish_up_to(self, published: int, indexed: int) -> int:
        while published < indexed:
            # Positions have no gaps, so this reads exactly the events up to `indexed`.
            limit = min(self._publish_batch, indexed - published)
            batch = self._indexed_position.indexed_after(published, limit) or await self._outbox.read_after(
                published, limit)
            overflowed = []
            for change in self._changes(batch):
                for interest in interests_in(change):
                    for cohort in self._watching.get(interest, ()):
                        notification = self._render(cohort, change)
                        overflowed += [(cohort, member) for member in cohort.members
                                       if not member.offer(change.position, notification)]
            # Out of the feed at once: its stream learns of it only once its last send is through,
            # which a peer that reads nothing may hold up for as long as its connection lasts.
            for cohort, member in overflowed:
                self._leave(cohort, member)
            published = self._published = batch[-1].position
            await asyncio.sleep(0)  # let subscribers take what they were just given
        return published

    def _render(self, cohort: _Cohort[N], change: Change) -> N:
        self._renders.inc()
        return cohort.render(change)

    @asynccontextmanager
    async def subscribe(
        self, stream_type: str, stream_id: str | None, customer_id: str | None, *, cohort: Hashable,
        prepare: Callable[[], Render[N]], after: int | None = None, on_overflow: OnOverflow | None = None,
        unavailable: Unavailable = FeedUnavailable,
    ) -> AsyncIterator[AsyncIterator[N]]:
        """Notifications of the changes to streams of `stream_type` (only `stream_id`, and only
        `customer_id`'s, where not None), live; first those after position `after` when resuming.
        Subscribers watching the same streams with the same `cohort` key share each rendering, by
        the `render` that the first one's `prepare()` made (so the key must cover what goes into
        it). A subscriber whose buffer overflows gets `on_overflow` called, and its stream ends.
        While the feed is not running (see the module's docstring) this raises, or the stream
        raises, `unavailable(...)`."""
        try:
            async with asyncio.timeout(self._unavailable_after_s):
                await self._running.wait()
        except TimeoutError:
            raise unavailable(UNAVAILABLE) from None
        if self._parked:
            await self._start_from_now(unavailable)
        assert self._published is not None  # set before the feed first runs
        joined = self._cohort(Interest(stream_type, stream_id, customer_id), cohort, prepare)
        del cohort, prepare  # the cohort keeps what it needs: this frame lives as long as the subscription
        member: Member[N] = Member(self._buffer_size)
        joined.members.add(member)
        self._members += 1
        # Unparked now, not when the feed next runs: a second subscriber still reading the read
        # model's position must not move the start past changes this one is owed.
        self._parked = False
        self._subscribed.set()
        try:
            yield self._stream(joined, member, after, self._published, on_overflow, unavailable)
        finally:
            self._leave(joined, member)

    def _leave(self, cohort: _Cohort[Any], member: Member[Any]) -> None:
        if member not in cohort.members:
            return  # it left when it overflowed
        self._members -= 1
        cohort.members.discard(member)
        if not cohort.members:
            self._end_cohort(cohort)

    def _cohort(self, interest: Interest, cohort: Hashable, prepare: Callable[[], Render[N]]) -> _Cohort[N]:
        key = interest, cohort
        joined: _Cohort[N] | None = self._cohorts.get(key)
        if joined is None:
            joined = self._cohorts[key] = _Cohort(key, interest, prepare())
            self._watching.setdefault(interest, set()).add(joined)
        return joined

    def _end_cohort(self, cohort: _Cohort[Any]) -> None:
        del self._cohorts[cohort.key]
        watching = self._watching[cohort.interest]
        watching.discard(cohort)
        if not watching:
            del self._watching[cohort.interest]

    async def _stream(
        self, cohort: _Cohort[N], member: Member[N], after: int | None, replay_to: int,
        on_overflow: OnOverflow | None, unavailable: Unavailable,
    ) -> AsyncIterator[N]:
        if after is not None and after < replay_to:
            if replay_to - after > self._max_replay:
                raise InvalidCursor(f"`after` is more than {self._max_replay} changes behind; query afresh and "
                                    "subscribe without it")
            position = after
            while position < replay_to:  # rendered for this subscriber alone: the others have these already
                batch = await self._outbox.read_after(position, min(READ_BATCH, replay_to - position))
                for replayed in self._changes(batch):
                    if cohort.interest.matches(replayed):
                        yield self._render(cohort, replayed)
                position = batch[-1].position
        while (next_one := await member.next()) is not None:
            position, notification = next_one
            if after is None or position > after:  # the feed may publish `after` itself just now
                yield notification
        if member.cut_off:
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
