"""The sync worker: tails the outbox in order and indexes each event into Elasticsearch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential_jitter

from read_model.indices import ensure_indices
from sync.positions import IndexedPosition
from sync.projections import IndexDocument, project
from write_model.events import StoredEvent
from write_model.outbox import Outbox

log = logging.getLogger(__name__)

_BACKOFF = wait_exponential_jitter(multiplier=0.1, max=10, jitter=0.5)

CONSUMER = "elasticsearch"


class BulkRejected(Exception):
    """Elasticsearch refused some operations of a batch for a reason other than a stale version."""


@dataclass(frozen=True)
class WorkerSettings:
    index_prefix: str
    currency: str
    batch_size: int = 500
    poll_interval_s: float = 1.0


class SyncWorker:
    """Indexes outbox events batch by batch; the checkpoint moves only after Elasticsearch
    acknowledged and refreshed the batch, so a crash at any point replays, never skips.

    Documents are written with `version_type=external` (the aggregate version), so a
    replayed or late event can never overwrite a newer document.
    """

    def __init__(
        self, outbox: Outbox, client: AsyncElasticsearch, positions: IndexedPosition, settings: WorkerSettings
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._positions = positions
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
        async for attempt in AsyncRetrying(
            wait=_BACKOFF, retry=retry_if_exception_type(Exception), stop=stop_never, before_sleep=_log_restart
        ):
            with attempt:
                await self._run_from_checkpoint()

    async def _run_from_checkpoint(self) -> None:
        await _with_retries(lambda: ensure_indices(self._client, self._settings.index_prefix))
        checkpoint = await self._outbox.checkpoint(CONSUMER)
        self._positions.advance(checkpoint)
        while not self._stopping:
            self._wake.clear()
            indexed = await self.run_once(checkpoint)
            if indexed == checkpoint:
                await self._idle()
            checkpoint = indexed

    async def run_once(self, checkpoint: int) -> int:
        """Index one batch after `checkpoint`, retrying transient failures; returns the new checkpoint."""
        events = await self._outbox.read_after(checkpoint, self._settings.batch_size)
        if not events:
            return checkpoint
        await _with_retries(lambda: self._index(events))
        position = events[-1].position
        await self._outbox.save_checkpoint(CONSUMER, position)
        self._positions.advance(position)
        return position

    async def _idle(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)
        except TimeoutError:
            pass

    async def _index(self, events: Sequence[StoredEvent]) -> None:
        started = time.perf_counter()
        operations = [op for event in events for op in project(event, self._settings.currency)]
        if operations:
            response = await self._client.bulk(operations=_bulk_body(operations, self._settings.index_prefix))
            _raise_on_rejections(response)
            aliases = sorted({op.index.alias(self._settings.index_prefix) for op in operations})
            await self._client.indices.refresh(index=",".join(aliases))
        log.debug(
            "indexed batch",
            extra={"events": len(events), "last_position": events[-1].position,
                   "seconds": round(time.perf_counter() - started, 4)},
        )


def _bulk_body(operations: Sequence[IndexDocument], prefix: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    for op in operations:
        action = {"_index": op.index.alias(prefix), "_id": op.id, "version": op.version, "version_type": "external"}
        body.append({"index": action})
        body.append(op.document)
    return body


def _raise_on_rejections(response: Any) -> None:
    if not response["errors"]:
        return
    # 409: the index already holds this version or a newer one; the replay is a no-op.
    failed = [item["index"] for item in response["items"] if item["index"].get("status", 200) >= 300
              and item["index"]["status"] != 409]
    if failed:
        raise BulkRejected(f"{len(failed)} documents rejected, first: {failed[0].get('error')}")


async def _with_retries(operation: Callable[[], Awaitable[None]]) -> None:
    """Elasticsearch failures are retried with backoff until they succeed: an event is never skipped."""
    async for attempt in AsyncRetrying(
        wait=_BACKOFF,
        retry=retry_if_exception_type((TransportError, ApiError, BulkRejected)),
        stop=stop_never,
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            await operation()


def _log_restart(state: Any) -> None:
    log.error("sync worker failed, restarting in %.1fs", state.next_action.sleep, exc_info=state.outcome.exception())


def _log_retry(state: Any) -> None:
    log.warning("indexing failed, retrying in %.1fs: %r", state.next_action.sleep, state.outcome.exception())
