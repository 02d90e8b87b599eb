"""Zero-downtime rebuild of a read index from the write model.

Build a new index from a consistent snapshot, apply the events written meanwhile, point the
alias at it in one atomic step, apply once more what the worker wrote to the old index
just before the swap, then drop the old index. Queries keep answering from the alias
throughout; external versions make every double application harmless.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from collections.abc import Callable
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from read_model.indices import IndexDefinition, create_index, indices_behind, point_alias
from sync.projections import customer_document, order_document, product_document, project
from write_model.consumers import Lease
from write_model.database import Database
from write_model.outbox import Outbox
from write_model.snapshots import open_snapshot

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (index name, documents done, documents in all)."""

_DOCUMENTS = {"products": product_document, "customers": customer_document, "orders": order_document}
BATCH_SIZE = 1000
LEASE_WAIT = timedelta(seconds=60)


class ReindexError(Exception):
    """Elasticsearch refused documents of the new index; the alias was left as it was."""


class Reindexer:
    def __init__(self, database: Database, outbox: Outbox, client: AsyncElasticsearch, prefix: str,
                 currency: str, worker_lease: Lease) -> None:
        self._worker_lease = worker_lease
        self._database = database
        self._outbox = outbox
        self._client = client
        self._prefix = prefix
        self._currency = currency

    async def reindex(self, definition: IndexDefinition, progress: Progress) -> str:
        """Rebuild one index; returns the name of the new index now behind the alias."""
        alias = definition.alias(self._prefix)
        new_index = f"{alias}-r{time.time_ns() // 1_000_000}"
        await create_index(self._client, new_index, definition)
        try:
            position = await self._load(definition, new_index, progress)
            position = await self._catch_up(definition, new_index, position)
            previous = await self._swap(definition, new_index, position)
        except BaseException:
            await self._client.indices.delete(index=new_index, ignore_unavailable=True)
            raise
        if previous:
            await self._client.indices.delete(index=",".join(previous), ignore_unavailable=True)
        log.info("reindexed %s into %s (was %s)", alias, new_index, ", ".join(previous) or "nothing")
        return new_index

    async def _swap(self, definition: IndexDefinition, new_index: str, position: int) -> list[str]:
        """Point the alias at the new index while the worker pauses between batches, so
        the new index holds all the worker indexed before and everything since goes to it."""
        await self._worker_lease.take_over(LEASE_WAIT)
        try:
            await self._catch_up(definition, new_index, position)
            await self._client.indices.refresh(index=new_index)
            alias = definition.alias(self._prefix)
            previous = await indices_behind(self._client, alias)
            await point_alias(self._client, alias, new_index, previous)
            return previous
        finally:
            await self._worker_lease.release()

    async def _load(self, definition: IndexDefinition, index: str, progress: Progress) -> int:
        document_of = _DOCUMENTS[definition.name]
        async with open_snapshot(self._database) as snapshot:
            total = await snapshot.count(definition.name)
            done = 0
            progress(definition.name, done, total)
            async for states in snapshot.states(definition.name, BATCH_SIZE):
                actions = [_action(index, state["id"], self._version(definition, state, snapshot.position),
                                   document_of(state, self._currency)) for state in states]
                await self._bulk(actions)
                done += len(states)
                progress(definition.name, done, total)
            return snapshot.position

    def _version(self, definition: IndexDefinition, state: dict[str, Any], position: int) -> int:
        # Customer documents are versioned by event position (see projections.project).
        version: int = position if definition.name == "customers" else state["version"]
        return version

    async def _catch_up(self, definition: IndexDefinition, index: str, position: int) -> int:
        """Apply the events after `position` that touch this index; returns the last position seen."""
        while events := await self._outbox.read_after(position, BATCH_SIZE):
            actions = [
                _action(index, target.id, target.version, target.document)
                for event in events for target in project(event, self._currency) if target.index is definition
            ]
            await self._bulk(actions)
            position = events[-1].position
        return position

    async def _bulk(self, actions: list[dict[str, Any]]) -> None:
        if not actions:
            return
        # 409: the new index already holds this version or a newer one; a no-op, not an error.
        _, errors = await async_bulk(self._client, actions, raise_on_error=False, max_retries=5)
        refused = [error for error in errors if error["index"]["status"] != 409] if isinstance(errors, list) else []
        if refused:
            raise ReindexError(f"{len(refused)} documents refused, first: {refused[0]}")


def _action(index: str, document_id: str, version: int, document: dict[str, Any]) -> dict[str, Any]:
    return {"_op_type": "index", "_index": index, "_id": document_id, "version": version,
            "version_type": "external", "_source": document}
