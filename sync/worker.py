"""The sync worker: tails the outbox in order and indexes each event into Elasticsearch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type, wait_exponential_jitter

from read_model.indices import DEFAULT_LAYOUT, IndexDefinition, IndexLayout, ensure_indices
from sync.erasure import PERSONAL_INDICES, Projector, expunge_deleted, is_erasure
from sync.errors import LeaseLost, SyncError
from sync.indexing import TRANSPORT_ERRORS, Indexer, Refusal
from sync.metrics import SyncMetrics
from sync.positions import IndexedPositionTracker
from sync.projections import IndexDocument
from write_model.availability import is_unavailable
from write_model.consumers import DeadLetters, Lease, Parcel, Tracking
from write_model.events import StoredEvent
from write_model.outbox import Outbox
from write_model.scrub import Coalesced

log = logging.getLogger(__name__)

CONSUMER = "elasticsearch"
"""The outbox consumer that keeps the read model: the name its tracking, lease and dead letters go by."""

_BACKOFF = wait_exponential_jitter(multiplier=0.1, max=10, jitter=0.5)
BeforeSleep = Callable[[RetryCallState], Awaitable[None] | None]
# How long a pass may go on taking batches while behind: the checkpoint and the indexed
# position move at least this often (plus one batch).
PASS_SECONDS = 1.0


class _Unfinished(SyncError):
    """Some operations of the batch still have to go through; try again after a backoff."""


@dataclass(frozen=True)
class WorkerSettings:
    index_prefix: str
    currency: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    # Attempts for an operation Elasticsearch refuses for good, before it is parked.
    max_attempts: int = 3
    # Also how long a renewal of the lease is trusted before the next one: between renewals the
    # lease is ours (nobody may take it before it expires), so a pass need not ask the database.
    pass_seconds: float = PASS_SECONDS
    index_layout: IndexLayout = DEFAULT_LAYOUT  # of the indices it creates when they are missing


@dataclass(frozen=True)
class _Operation:
    event: StoredEvent
    target: IndexDocument


@dataclass(frozen=True)
class _Batch:
    events: list[StoredEvent]
    operations: list[_Operation]

    @property
    def last_position(self) -> int:
        return self.events[-1].position


def _target(operation: _Operation) -> IndexDocument:
    return operation.target


async def _settle(task: asyncio.Task[_Batch | None]) -> None:
    """Let a read-ahead nobody needs any more finish (a read is short; cancelling one midway would
    leave its session to SQLAlchemy's cleanup) and drop what it gave, a failure included."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


class SyncWorker:
    """Indexes outbox events batch by batch while it holds the consumer lease.

    The checkpoint moves only after Elasticsearch acknowledged and refreshed a pass, so a
    crash at any point replays, never skips; documents are written with
    `version_type=external`, so a replayed or late event never overwrites a newer document.
    Transient failures are retried forever; an operation refused for good is retried
    `max_attempts` times, then parked as a dead letter so the rest keeps flowing.
    """

    def __init__(
        self,
        outbox: Outbox,
        tracking: Tracking,
        dead_letters: DeadLetters,
        lease: Lease,
        client: AsyncElasticsearch,
        indexed_position: IndexedPositionTracker,
        metrics: SyncMetrics,
        settings: WorkerSettings,
    ) -> None:
        self._outbox = outbox
        self._tracking = tracking
        self._dead_letters = dead_letters
        self._lease = lease
        self._client = client
        self._indexer = Indexer.through_aliases(client, settings.index_prefix)
        self._projector = Projector(outbox, settings.currency)
        # After an erasure: the documents it replaced leave their segments. Not retried: should the
        # node be away, or the worker stop meanwhile, the segments' own merges drop them in time.
        aliases = [index.alias(settings.index_prefix) for index in PERSONAL_INDICES]
        self._expunge = Coalesced(lambda: expunge_deleted(client, aliases),
                                  "expunging the documents an erasure replaced")
        self._indexed_position = indexed_position
        self._metrics = metrics
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._renewal_due = 0.0  # time.monotonic() after which the lease is renewed again
        self._checkpoints = _CheckpointWrites(tracking)

    def wake(self) -> None:
        """Called on commit in this process, so the worker does not wait for its next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch, then return from `run`."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Index until `stop()`. An unexpected failure (the database gone, a bug) is logged and the
        worker starts over from its durable checkpoint after a backoff, rather than dying quietly.
        A stop also ends the retries of a batch that cannot go through: its checkpoint is not
        moved, so the next run indexes it again."""
        try:
            async for attempt in AsyncRetrying(
                wait=_BACKOFF, sleep=self._pause, retry=retry_if_exception_type(Exception), stop=self._stop_requested,
                before_sleep=_log_restart,
            ):
                with attempt:
                    await self._run_while_leased()
        except RetryError:
            log.info("sync worker stopped while its last batch was failing; it resumes from the checkpoint")
        finally:
            self._indexed_position.set_local_active(False)
            self._metrics.lease_held.set(0)
            await self._expunge.close(grace_s=0)
            await self._checkpoints.finish()
            await self._release_lease()

    def _stop_requested(self, _state: RetryCallState) -> bool:
        return self._stopping.is_set()

    async def _pause(self, seconds: float) -> None:
        """A backoff between retries, cut short by `stop()`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _release_lease(self) -> None:
        self._renewal_due = 0.0
        try:
            await self._lease.release()
        except Exception:  # the database may be what failed; the lease then simply expires
            log.warning("could not release the sync lease; it expires on its own", exc_info=True)

    async def _run_while_leased(self) -> None:
        await self._with_retries(lambda: ensure_indices(self._client, self._settings.index_prefix,
                                                                self._settings.index_layout))
        checkpoint: int | None = None
        while not self._stopping.is_set():
            self._wake.clear()
            if not await self._hold_lease():
                checkpoint = None
                await self._idle()
                continue
            if checkpoint is None:  # just took the lease: another worker may have moved it on
                checkpoint = await self._tracking.position()
                self._indexed_position.advance(checkpoint)
                log.info("holding the sync lease as %s from position %s", self._lease.owner, checkpoint)
            try:
                indexed = await self._index_pass(checkpoint)
            except LeaseLost:
                checkpoint = None
                continue
            if indexed == checkpoint:
                await self._checkpoints.written()
                await self._idle()
            else:
                await self._checkpoints.write(indexed)
            checkpoint = indexed

    async def _hold_lease(self) -> bool:
        """Whether the lease is ours, renewing it once `pass_seconds` went by since the last renewal
        was asked for: the lease cannot have gone to another before it expires, a whole TTL after that."""
        asked = time.monotonic()
        if asked < self._renewal_due:
            return True
        held = await self._lease.acquire_or_renew()
        self._renewal_due = asked + self._settings.pass_seconds if held else 0.0
        self._indexed_position.set_local_active(held)
        self._metrics.lease_held.set(1 if held else 0)
        return held

    async def run_once(self, checkpoint: int) -> int:
        """Index one pass after `checkpoint`; returns the new checkpoint, durable by then."""
        position = await self._index_pass(checkpoint)
        if position != checkpoint:
            await self._tracking.record(position)
        return position

    async def _index_pass(self, checkpoint: int) -> int:
        """Index one pass after `checkpoint`; returns the position it indexed up to.

        A pass is a batch and, while the outbox is behind (each batch came back full), the next
        ones, for up to `pass_seconds`: each batch's successor is read and projected while its bulk
        is in flight. One refresh covers the pass (for a pass of one batch, its bulk's own), then the
        indexed position moves, so nothing is announced before it is searchable."""
        started = time.perf_counter()
        batch = await self._read_batch(checkpoint)
        if batch is None:
            return checkpoint
        first_position = batch.events[0].position
        written: dict[str, IndexDefinition] = {}  # by name: definitions do not hash
        events = operations = 0
        erased = False
        # A pass of one batch (no backlog: the usual case) is refreshed by its own bulk, one round
        # trip less before a change is searchable; a longer pass's bulks may touch other shards.
        following = self._read_ahead(batch, started)
        lone = batch if following is None else None
        while batch is not None:
            try:
                await self._write_all(batch.operations, refresh=batch is lone)
            except BaseException:
                if following is not None:
                    await _settle(following)
                raise
            written.update((operation.target.index.name, operation.target.index) for operation in batch.operations)
            events += len(batch.events)
            operations += len(batch.operations)
            erased = erased or any(is_erasure(event) for event in batch.events)
            position = batch.last_position
            batch = await following if following is not None else None
            if self._stopping.is_set():  # stop() ends the pass with the batches written so far
                batch = None
            following = None if batch is None else self._read_ahead(batch, started)
        if lone is None:
            await self._with_retries(lambda: self._indexer.refresh(written.values()), before_sleep=self._before_retry)
        if erased:
            self._expunge.ask()
        self._indexed_position.advance(position, () if lone is None else lone.events)
        seconds = time.perf_counter() - started
        self._metrics.events_indexed.inc(events)
        self._metrics.batch_seconds.observe(seconds)
        log.debug("indexed batch", extra={"events": events, "operations": operations,
                                          "first_position": first_position, "last_position": position,
                                          "seconds": round(seconds, 4)})
        return position

    async def _read_batch(self, checkpoint: int) -> _Batch | None:
        """The events after `checkpoint` (None if there are none) and their index operations."""
        events = await self._outbox.read_after(checkpoint, self._settings.batch_size)
        if not events:
            return None
        return _Batch(events, [_Operation(event, target) for event in events
                               for target in await self._projector.documents(event)])

    def _read_ahead(self, batch: _Batch, started: float) -> asyncio.Task[_Batch | None] | None:
        """Start reading the batch after `batch` if the pass goes on: the outbox is behind (the
        batch was full), the pass is young and nobody asked the worker to stop."""
        behind = len(batch.events) >= self._settings.batch_size
        young = time.perf_counter() - started < self._settings.pass_seconds
        if not behind or not young or self._stopping.is_set():
            return None
        return asyncio.create_task(self._read_batch(batch.last_position))

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.poll_interval_s):
                await self._wake.wait()

    async def _write_all(self, operations: list[_Operation], *, refresh: bool) -> None:
        """Bulk-write a batch until every operation went through or was parked; `refresh` makes
        each bulk refresh the shards it wrote to, so all that went through is searchable."""
        pending = operations

        async def attempt(state: RetryCallState) -> None:
            nonlocal pending
            refusals = await self._indexer.write_items(pending, _target, refresh=refresh)
            lasting = [r for r in refusals if not r.transient]
            if lasting and state.attempt_number >= self._settings.max_attempts:
                await self._park(lasting)
                refusals = [r for r in refusals if r.transient]
            pending = [refusal.item for refusal in refusals]
            if pending:
                raise _Unfinished(f"{len(pending)} operations refused, first: {refusals[0].error}")

        async for retrying in AsyncRetrying(
            wait=_BACKOFF,
            sleep=self._pause,
            retry=retry_if_exception_type((*TRANSPORT_ERRORS, _Unfinished)),
            stop=self._stop_requested,
            before_sleep=self._before_retry,
            reraise=True,
        ):
            with retrying:
                await attempt(retrying.retry_state)

    async def _with_retries(
        self, operation: Callable[[], Awaitable[None]], before_sleep: BeforeSleep | None = None,
    ) -> None:
        """Elasticsearch failures are retried with backoff until they succeed or the worker stops."""
        async for attempt in AsyncRetrying(
            wait=_BACKOFF, sleep=self._pause, retry=retry_if_exception_type(TRANSPORT_ERRORS),
            stop=self._stop_requested, before_sleep=before_sleep or _log_retry, reraise=True,
        ):
            with attempt:
                await operation()

    async def _before_retry(self, state: RetryCallState) -> None:
        self._metrics.retries.inc()
        _log_retry(state)
        if not await self._hold_lease():
            raise LeaseLost()

    async def _park(self, refusals: list[Refusal[_Operation]]) -> None:
        await self._dead_letters.park([
            Parcel(
                position=r.item.event.position,
                event_type=r.item.event.event_type,
                stream_id=r.item.event.stream_id,
                index_name=r.item.target.index.name,
                document_id=r.item.target.id,
                error=r.error,
                attempts=self._settings.max_attempts,
            )
            for r in refusals
        ])
        self._metrics.parked.inc(len(refusals))
        for refusal in refusals:
            log.error("parked event %s for %s/%s after %s attempts: %s", refusal.item.event.position,
                      refusal.item.target.index.name, refusal.item.target.id, self._settings.max_attempts,
                      refusal.error)


class _CheckpointWrites:
    """The durable checkpoint of a pass is written while the next pass runs, one write at a time.

    Searchable is what notifications and consistent reads wait for: they need not also wait for
    the checkpoint, whose write queues behind the commands in the writer. A crash before it lands
    replays what it covered, which the external versions make harmless; it only moves forward, so
    one landing after the lease went elsewhere undoes nothing."""

    def __init__(self, tracking: Tracking) -> None:
        self._tracking = tracking
        self._pending: asyncio.Task[None] | None = None

    async def write(self, position: int) -> None:
        """Start writing `position` once the previous write landed (its failure is raised here)."""
        await self.written()
        self._pending = asyncio.create_task(self._tracking.record(position))

    async def written(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def finish(self) -> None:
        """On the way out: the last write lands, or is left to the next run to make good."""
        try:
            await self.written()
        except Exception:
            log.warning("could not write the sync checkpoint; the next run indexes its events again", exc_info=True)


def _log_restart(state: RetryCallState) -> None:
    assert state.outcome is not None and state.next_action is not None
    failure = state.outcome.exception()
    if failure is not None and is_unavailable(failure):  # expected while it is away: a line, no traceback
        first_line = next(iter(str(failure).splitlines()), "")
        log.warning("sync worker cannot reach the write model (%s: %s), restarting in %.1fs",
                    type(failure).__name__, first_line, state.next_action.sleep)
        return
    log.error("sync worker failed, restarting in %.1fs", state.next_action.sleep, exc_info=failure)


def _log_retry(state: RetryCallState) -> None:
    assert state.outcome is not None and state.next_action is not None
    log.warning("indexing failed, retry %s in %.1fs: %s", state.attempt_number, state.next_action.sleep,
                state.outcome.exception())
