"""The sync worker: tails the outbox in order and indexes each event into Elasticsearch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential_jitter

from read_model.indices import ensure_indices
from sync.metrics import SyncMetrics
from sync.positions import IndexedPosition
from sync.projections import IndexDocument, project
from write_model.consumers import DeadLetter, DeadLetters, Lease, Parcel
from write_model.events import StoredEvent
from write_model.outbox import Outbox

log = logging.getLogger(__name__)

CONSUMER = "elasticsearch"

_BACKOFF = wait_exponential_jitter(multiplier=0.1, max=10, jitter=0.5)
# Per-item statuses worth retrying without limit: the cluster is busy or unwell, the document is fine.
_TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
_TRANSPORT_ERRORS = (TransportError, ApiError)


class _Unfinished(Exception):
    """Some operations of the batch still have to go through; try again after a backoff."""


class LeaseLost(Exception):
    """Another worker took over; this one drops its batch (the new holder redoes it)."""


@dataclass(frozen=True)
class WorkerSettings:
    index_prefix: str
    currency: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    # Attempts for an operation Elasticsearch refuses for good, before it is parked.
    max_attempts: int = 3


@dataclass(frozen=True)
class _Operation:
    event: StoredEvent
    target: IndexDocument


@dataclass(frozen=True)
class _Refusal:
    operation: _Operation
    status: int
    error: str


class SyncWorker:
    """Indexes outbox events batch by batch while it holds the consumer lease.

    The checkpoint moves only after Elasticsearch acknowledged and refreshed a batch, so a
    crash at any point replays, never skips; documents are written with
    `version_type=external`, so a replayed or late event never overwrites a newer document.
    Transient failures are retried forever; an operation refused for good is retried
    `max_attempts` times, then parked as a dead letter so the rest keeps flowing.
    """

    def __init__(
        self,
        outbox: Outbox,
        dead_letters: DeadLetters,
        lease: Lease,
        client: AsyncElasticsearch,
        positions: IndexedPosition,
        metrics: SyncMetrics,
        settings: WorkerSettings,
    ) -> None:
        self._outbox = outbox
        self._dead_letters = dead_letters
        self._lease = lease
        self._client = client
        self._positions = positions
        self._metrics = metrics
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self, _position: int | None = None) -> None:
        """Called on commit in this process, so the worker does not wait for its next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch, then return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Index until `stop()`. An unexpected failure (the database gone, a bug) is logged and the
        worker starts over from its durable checkpoint after a backoff, rather than dying quietly."""
        try:
            async for attempt in AsyncRetrying(
                wait=_BACKOFF, retry=retry_if_exception_type(Exception), stop=stop_never, before_sleep=_log_restart
            ):
                with attempt:
                    await self._run_while_leased()
        finally:
            self._positions.set_local_active(False)
            self._metrics.lease_held.set(0)
            await self._release_lease()

    async def _release_lease(self) -> None:
        try:
            await self._lease.release()
        except Exception:  # the database may be what failed; the lease then simply expires
            log.warning("could not release the sync lease; it expires on its own", exc_info=True)

    async def _run_while_leased(self) -> None:
        await _with_retries(lambda: ensure_indices(self._client, self._settings.index_prefix))
        checkpoint: int | None = None
        while not self._stopping:
            self._wake.clear()
            if not await self._hold_lease():
                checkpoint = None
                await self._idle()
                continue
            if checkpoint is None:  # just took the lease: another worker may have moved it on
                checkpoint = await self._outbox.checkpoint(CONSUMER)
                self._positions.advance(checkpoint)
                log.info("holding the sync lease as %s from position %s", self._lease.owner, checkpoint)
            try:
                indexed = await self.run_once(checkpoint)
            except LeaseLost:
                checkpoint = None
                continue
            if indexed == checkpoint:
                await self._idle()
            checkpoint = indexed

    async def _hold_lease(self) -> bool:
        held = await self._lease.acquire_or_renew()
        self._positions.set_local_active(held)
        self._metrics.lease_held.set(1 if held else 0)
        return held

    async def run_once(self, checkpoint: int) -> int:
        """Index one batch after `checkpoint`; returns the new checkpoint."""
        events = await self._outbox.read_after(checkpoint, self._settings.batch_size)
        if not events:
            return checkpoint
        started = time.perf_counter()
        operations = [_Operation(event, target) for event in events for target in project(event, self._settings.currency)]
        await self._index_all(operations)
        position = events[-1].position
        await self._outbox.save_checkpoint(CONSUMER, position)
        self._positions.advance(position)
        seconds = time.perf_counter() - started
        self._metrics.events_indexed.inc(len(events))
        self._metrics.batch_seconds.observe(seconds)
        log.debug("indexed batch", extra={"events": len(events), "operations": len(operations),
                                          "first_position": events[0].position, "last_position": position,
                                          "seconds": round(seconds, 4)})
        return position

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.poll_interval_s):
                await self._wake.wait()

    async def _index_all(self, operations: list[_Operation]) -> None:
        pending = operations
        aliases = sorted({op.target.index.alias(self._settings.index_prefix) for op in operations})

        async def attempt(state: RetryCallState) -> None:
            nonlocal pending
            refusals = await self._bulk(pending)
            lasting = [r for r in refusals if r.status not in _TRANSIENT_STATUSES]
            if lasting and state.attempt_number >= self._settings.max_attempts:
                await self._park(lasting)
                refusals = [r for r in refusals if r.status in _TRANSIENT_STATUSES]
            pending = [refusal.operation for refusal in refusals]
            if pending:
                raise _Unfinished(f"{len(pending)} operations refused, first: {refusals[0].error}")
            if aliases:
                await self._client.indices.refresh(index=",".join(aliases))

        async for retrying in AsyncRetrying(
            wait=_BACKOFF,
            retry=retry_if_exception_type((*_TRANSPORT_ERRORS, _Unfinished)),
            stop=stop_never,
            before_sleep=self._before_retry,
            reraise=True,
        ):
            with retrying:
                await attempt(retrying.retry_state)

    async def _before_retry(self, state: RetryCallState) -> None:
        self._metrics.retries.inc()
        _log_retry(state)
        if not await self._hold_lease():
            raise LeaseLost()

    async def _bulk(self, operations: Sequence[_Operation]) -> list[_Refusal]:
        if not operations:
            return []
        response = await self._client.bulk(operations=_bulk_body(operations, self._settings.index_prefix))
        if not response["errors"]:
            return []
        refusals = []
        for operation, item in zip(operations, response["items"]):
            result = item["index"]
            # 409: the index already holds this version or a newer one; the replay is a no-op.
            if result["status"] >= 300 and result["status"] != 409:
                refusals.append(_Refusal(operation, result["status"], _describe(result.get("error"))))
        return refusals

    async def _park(self, refusals: list[_Refusal]) -> None:
        await self._dead_letters.park([
            Parcel(
                position=r.operation.event.position,
                event_type=r.operation.event.event_type,
                stream_id=r.operation.event.stream_id,
                index_name=r.operation.target.index.name,
                document_id=r.operation.target.id,
                error=r.error,
                attempts=self._settings.max_attempts,
            )
            for r in refusals
        ])
        self._metrics.parked.inc(len(refusals))
        for refusal in refusals:
            log.error("parked event %s for %s/%s after %s attempts: %s", refusal.operation.event.position,
                      refusal.operation.target.index.name, refusal.operation.target.id, self._settings.max_attempts,
                      refusal.error)

    async def retry_parked(self, ids: list[int] | None = None) -> list[tuple[DeadLetter, str | None]]:
        """Index parked operations again (all, or those with `ids`). A success removes the dead
        letter; a refusal keeps it with the new error. Returns each letter with its error or None."""
        letters = await self._dead_letters.list(ids)
        events = {event.position: event for event in await self._outbox.read_at([l.position for l in letters])}
        outcomes = []
        for letter in letters:
            error = await self._index_again(events[letter.position], letter.index_name, letter.document_id)
            if error is None:
                await self._dead_letters.resolve(letter.id)
            else:
                await self._dead_letters.record_failure(letter.id, error)
            outcomes.append((letter, error))
        return outcomes

    async def _index_again(self, event: StoredEvent, index_name: str, document_id: str) -> str | None:
        targets = [t for t in project(event, self._settings.currency)
                   if t.index.name == index_name and t.id == document_id]
        refusals = await self._bulk([_Operation(event, target) for target in targets])
        if refusals:
            return refusals[0].error
        await self._client.indices.refresh(index=",".join(t.index.alias(self._settings.index_prefix) for t in targets))
        return None


def _bulk_body(operations: Sequence[_Operation], prefix: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    for operation in operations:
        target = operation.target
        body.append({"index": {"_index": target.index.alias(prefix), "_id": target.id, "version": target.version,
                               "version_type": "external"}})
        body.append(target.document)
    return body


def _describe(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


async def _with_retries(operation: Callable[[], Awaitable[None]]) -> None:
    """Elasticsearch failures are retried with backoff until they succeed."""
    async for attempt in AsyncRetrying(
        wait=_BACKOFF, retry=retry_if_exception_type(_TRANSPORT_ERRORS), stop=stop_never, before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            await operation()


def _log_restart(state: RetryCallState) -> None:
    assert state.outcome is not None and state.next_action is not None
    log.error("sync worker failed, restarting in %.1fs", state.next_action.sleep, exc_info=state.outcome.exception())


def _log_retry(state: RetryCallState) -> None:
    assert state.outcome is not None and state.next_action is not None
    log.warning("indexing failed, retry %s in %.1fs: %r", state.attempt_number, state.next_action.sleep,
                state.outcome.exception())
