"""Erasure in the read model: every document a customer's personal data reached, rewritten.

Once a customer is erased their key is gone, so each event of theirs reads as erased
(write_model/personal.py): whatever is built from the log from then on (the worker's next
events, a replay, a reindex) holds none of their personal data. What the read model already
holds is rewritten when their CustomerErased event is indexed: its own projection replaces the
customer's document, and the documents of their orders, and the events index's documents of
their own and their orders' events, are projected again from the log as it now reads and replace
the same versions (`IndexDocument.rewrite`), so every document keeps the version the log gives it.

A replaced document stays in its Lucene segment, marked deleted, until a merge drops it: after an
erasure the affected indices are force-merged to expunge deleted documents (`expunge_deleted`), in
the background of the worker (one such step at a time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import CUSTOMERS, EVENTS, ORDERS
from sync.projections import IndexDocument, Record, project
from write_model import events
from write_model.events import StoredEvent
from write_model.outbox import Outbox

log = logging.getLogger(__name__)

# The indices whose documents may carry a customer's personal data.
PERSONAL_INDICES = (CUSTOMERS, ORDERS, EVENTS)
# The longest `expunge_deleted` waits for the node to let go of deleted documents.
RELEASE_TIMEOUT_S = 120.0
_RELEASE_POLL_S = 1.0


def is_erasure(record: Record) -> bool:
    return isinstance(record, StoredEvent) and record.event_type == events.CUSTOMER_ERASED


class Projector:
    """What a record is indexed as: its projection (`project`) and, for an erasure, the rewrites of
    what the customer's personal data reached. The worker, replay, reindex and redelivery index this."""

    def __init__(self, outbox: Outbox, currency: str) -> None:
        self._outbox = outbox
        self._currency = currency

    async def documents(self, record: Record) -> list[IndexDocument]:
        documents = project(record, self._currency)
        if is_erasure(record):
            assert isinstance(record, StoredEvent)
            documents += await self._rewrites(record)
        return documents

    async def _rewrites(self, erasure: StoredEvent) -> list[IndexDocument]:
        """The customer's orders' documents and their events' documents, as of the erasure."""
        latest: dict[tuple[str, str], IndexDocument] = {}
        for event in await self._outbox.read_streams([erasure.stream_id, *erasure.payload["orderIds"]]):
            if event.position >= erasure.position:  # later events are indexed as they come
                continue
            for document in project(event, self._currency):
                # The erasure's own projection writes the customer's newest document.
                if document.index is not CUSTOMERS:  # in position order: an order's last version wins
                    latest[(document.index.name, document.id)] = replace(document, rewrite=True)
        return list(latest.values())


async def expunge_deleted(client: AsyncElasticsearch, indices: list[str], timeout_s: float = RELEASE_TIMEOUT_S
                          ) -> None:
    """Start a force merge of `indices` that only expunges deleted documents, once the node lets go
    of those deleted so far; the node runs it in the background on its force-merge thread pool (one
    thread a node), which bounds what it takes however often it is asked. Every segment holding a
    deleted document is merged (`index.merge.policy.expunge_deletes_allowed` is 0, read_model/indices.py).

    A deleted document is kept while a retention lease of its shard may need it to recover a copy
    (the node moves its leases on every 30 s), and while the last safe commit does not cover it. So
    this first waits, at most `timeout_s`, until every lease of every copy has passed the operations
    the shards had taken when it was called, then flushes (a new commit), then merges."""
    names = ",".join(indices)
    marks = _max_seq_nos(await _shard_stats(client, names))
    deadline = time.monotonic() + timeout_s
    while not _released(await _shard_stats(client, names), marks):
        if time.monotonic() > deadline:
            log.warning("retention leases of %s still hold deleted documents after %ss; merging anyway", names,
                        timeout_s)
            break
        await asyncio.sleep(_RELEASE_POLL_S)
    await client.indices.flush(index=names)
    await client.indices.forcemerge(index=names, only_expunge_deletes=True, wait_for_completion=False)


_Shard = tuple[str, str]  # index, shard number


async def _shard_stats(client: AsyncElasticsearch, names: str) -> dict[str, Any]:
    response = await client.indices.stats(index=names, level="shards", metric="docs", filter_path=[
        "indices.*.shards.*.seq_no.max_seq_no", "indices.*.shards.*.retention_leases.leases.retaining_seq_no"])
    stats: dict[str, Any] = response.body.get("indices", {})
    return stats


def _max_seq_nos(stats: dict[str, Any]) -> dict[_Shard, int]:
    return {(index, number): max(copy["seq_no"]["max_seq_no"] for copy in copies)
            for index, shards in stats.items() for number, copies in shards["shards"].items()}


def _released(stats: dict[str, Any], marks: dict[_Shard, int]) -> bool:
    """Whether every lease of every copy of the marked shards retains nothing up to its mark (an
    index gone since, rebuilt and dropped, holds nothing any more)."""
    return all(lease["retaining_seq_no"] > marks[(index, number)]
               for index, shards in stats.items() for number, copies in shards["shards"].items()
               if (index, number) in marks
               for copy in copies for lease in copy["retention_leases"]["leases"])
