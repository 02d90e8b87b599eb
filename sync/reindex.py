"""Zero-downtime rebuild of a read index, from the write model's state or from the event log.

Load a new index (`reindex`: a consistent snapshot's states; `replay`: every event of the log
from position 0, folded through the same projections as the worker's), apply the events
written meanwhile, point the alias at it in one atomic step, apply once more what the worker
wrote to the old index just before the swap, then drop the old index. Queries keep answering
from the alias throughout; external versions make every double application harmless, and
folding the log in position order ends at the version the worker reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from elasticsearch import AsyncElasticsearch

from read_model.indices import DEFAULT_LAYOUT, IndexDefinition, IndexLayout, create_index, indices_behind, point_alias
from sync.erasure import Projector, expunge_deleted, is_erasure
from sync.errors import ReindexError
from sync.indexing import Indexer
from sync.projections import IndexDocument, Record
from write_model.consumers import Lease
from write_model.database import Database
from write_model.outbox import Outbox
from write_model.snapshots import open_snapshot

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (index name, documents done, documents in all); replay counts events instead."""
_Load = Callable[[IndexDefinition, Indexer, Progress], Awaitable[int]]
"""Fills a new index; returns the position of the log it reflects."""

BATCH_SIZE = 1000
LEASE_WAIT = timedelta(seconds=60)
# Tries for documents refused for a transient reason (the cluster is busy), each after a longer pause.
TRANSIENT_PAUSES_S = (2, 4, 8, 16, 32)


class Reindexer:
    def __init__(self, database: Database, outbox: Outbox, client: AsyncElasticsearch, prefix: str,
                 currency: str, worker_lease: Lease, layout: IndexLayout = DEFAULT_LAYOUT) -> None:
        self._worker_lease = worker_lease
        self._layout = layout  # the new index gets the configured shards and replicas, not the defaults
        self._database = database
        self._outbox = outbox
        self._projector = Projector(outbox, currency)
        self._client = client
        self._prefix = prefix
        self._met_erasure = False  # whether the rebuild under way met an erasure while catching up

    async def reindex(self, definition: IndexDefinition, progress: Progress) -> str:
        """Rebuild one index; returns the name of the new index now behind the alias."""
        if not definition.from_state:
            raise ReindexError(f"{definition.name} holds the event log, which the write model's current state "
                               "cannot rebuild; replay the log instead (`storefront replay`)")
        return await self._rebuild(definition, self._load_state, progress)

    async def replay(self, definition: IndexDefinition, progress: Progress) -> str:
        """Rebuild one index by folding the whole event log; returns the name of the new index."""
        return await self._rebuild(definition, self._load_log, progress)

    async def _rebuild(self, definition: IndexDefinition, load: _Load, progress: Progress) -> str:
        self._met_erasure = False
        alias = definition.alias(self._prefix)
        new_index = f"{alias}-r{time.time_ns() // 1_000_000}"
        await create_index(self._client, new_index, definition, layout=self._layout)
        indexer = Indexer(self._client, lambda _definition: new_index)
        try:
            position = await load(definition, indexer, progress)
            position = await self._catch_up(definition, indexer, position)
            previous = await self._swap(definition, indexer, new_index, position)
        except BaseException:
            await self._client.indices.delete(index=new_index, ignore_unavailable=True)
            raise
        if previous:
            await self._client.indices.delete(index=",".join(previous), ignore_unavailable=True)
        if self._met_erasure:  # it may have replaced documents that held personal data
            await expunge_deleted(self._client, [new_index])
        log.info("rebuilt %s into %s (was %s)", alias, new_index, ", ".join(previous) or "nothing")
        return new_index

    async def _swap(self, definition: IndexDefinition, indexer: Indexer, new_index: str, position: int) -> list[str]:
        """Point the alias at the new index while the worker pauses between batches, so
        the new index holds all the worker indexed before and everything since goes to it."""
        await self._worker_lease.take_over(LEASE_WAIT)
        try:
            await self._catch_up(definition, indexer, position)
            await indexer.refresh([definition])
            alias = definition.alias(self._prefix)
            previous = await indices_behind(self._client, alias)
            await point_alias(self._client, alias, new_index, previous)
            return previous
        finally:
            await self._worker_lease.release()

    async def _load_log(self, definition: IndexDefinition, indexer: Indexer, progress: Progress) -> int:
        """Write what every event up to the current head projects to; returns the last position written."""
        head = await self._outbox.head()
        position = 0
        progress(definition.name, position, head)
        while position < head and (events := await self._outbox.read_after(position, BATCH_SIZE)):
            await _write(indexer, await self._documents(definition, events))
            position = events[-1].position
            progress(definition.name, min(position, head), head)
        return position

    async def _load_state(self, definition: IndexDefinition, indexer: Indexer, progress: Progress) -> int:
        """Write every state of the snapshot, projected as the events are; returns its position."""
        async with open_snapshot(self._database) as snapshot:
            total = await snapshot.count(definition.name)
            done = 0
            progress(definition.name, done, total)
            async for states in snapshot.states(definition.name, BATCH_SIZE):
                await _write(indexer, await self._documents(definition, states))
                done += len(states)
                progress(definition.name, done, total)
            return snapshot.position

    async def _catch_up(self, definition: IndexDefinition, indexer: Indexer, position: int) -> int:
        """Apply the events after `position` that touch this index; returns the last position seen."""
        while events := await self._outbox.read_after(position, BATCH_SIZE):
            await _write(indexer, await self._documents(definition, events))
            position = events[-1].position
            # An erasure committed after the load read what it erased: its rewrites replaced personal data.
            self._met_erasure = self._met_erasure or any(is_erasure(event) for event in events)
        return position

    async def _documents(self, definition: IndexDefinition, records: Sequence[Record]) -> list[IndexDocument]:
        return [document for record in records for document in await self._projector.documents(record)
                if document.index is definition]


async def _write(indexer: Indexer, documents: list[IndexDocument]) -> None:
    """Write the documents, trying transient refusals again a few times; any other refusal, or
    one still transient after the last try, abandons the reindex."""
    refused = await indexer.write(documents)
    for pause_s in TRANSIENT_PAUSES_S:
        if not refused or not all(refusal.transient for refusal in refused):
            break
        await asyncio.sleep(pause_s)
        refused = await indexer.write([refusal.item for refusal in refused])
    if refused:
        raise ReindexError(f"{len(refused)} documents refused, first: {refused[0].error}")
