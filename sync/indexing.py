"""Writing projected documents into Elasticsearch, for every writer of the read model.

The worker, reindex and dead-letter redelivery all write through an `Indexer`: one bulk request
per batch, each document with its external version, so a replayed or late write never replaces
a newer document. Elasticsearch answers for each document, and `refusals` reads that answer the
same way for all of them: 409 is a no-op, and a refusal is transient or lasting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from read_model.indices import IndexDefinition
from sync.projections import IndexDocument

# The index already holds this version or a newer one: the write is a replay, a no-op.
ALREADY_NEWER = 409
# Per-document statuses worth retrying without limit: the cluster is busy or unwell, the document is fine.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# The whole request failed (no answer, or a refusal of the request itself): worth trying again as a whole.
TRANSPORT_ERRORS = (TransportError, ApiError)
# All `refusals` reads of a bulk answer: a tenth of its size, and as much less to decode.
BULK_ANSWER = ["errors", "items.*.status", "items.*.error"]

Item = TypeVar("Item")
IndexName = Callable[[IndexDefinition], str]
"""Where a definition's documents go: its alias, or a new index being built."""


@dataclass(frozen=True)
class Refusal(Generic[Item]):
    """An item whose document Elasticsearch did not take, with its status and why."""

    item: Item
    status: int
    error: str

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUSES


def bulk_body(documents: Iterable[IndexDocument], index_name: IndexName) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    for document in documents:
        body.append({"index": {"_index": index_name(document.index), "_id": document.id,
                               "version": document.version,
                               "version_type": "external_gte" if document.rewrite else "external"}})
        body.append(document.document)
    return body


def refusals(items: Sequence[Item], response: Mapping[str, Any]) -> list[Refusal[Item]]:
    """The items refused in a bulk response, whose answers stand in the order of `items`."""
    if not response["errors"]:
        return []
    refused = []
    for item, answer in zip(items, response["items"], strict=True):
        result = answer["index"]
        if result["status"] >= 300 and result["status"] != ALREADY_NEWER:
            refused.append(Refusal(item, result["status"], describe(result.get("error"))))
    return refused


def describe(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


class Indexer:
    """Bulk-writes documents with external versions; transport errors propagate to the caller,
    who decides whether to retry."""

    def __init__(self, client: AsyncElasticsearch, index_name: IndexName) -> None:
        self._client = client
        self._index_name = index_name

    @classmethod
    def through_aliases(cls, client: AsyncElasticsearch, prefix: str) -> Indexer:
        return cls(client, lambda definition: definition.alias(prefix))

    async def write(self, documents: Sequence[IndexDocument]) -> list[Refusal[IndexDocument]]:
        """Write the documents in one request; returns those refused."""
        return await self.write_items(documents, lambda document: document)

    async def write_items(
        self, items: Sequence[Item], document: Callable[[Item], IndexDocument], *, refresh: bool = False
    ) -> list[Refusal[Item]]:
        """Write each item's document in one request; returns the refused items. `refresh` makes
        what went through searchable before the answer (the shards written to are refreshed)."""
        if not items:
            return []
        response = await self._client.bulk(operations=bulk_body(map(document, items), self._index_name),
                                           filter_path=BULK_ANSWER, refresh=refresh)
        return refusals(items, response.body)

    async def refresh(self, definitions: Iterable[IndexDefinition]) -> None:
        """Make what was written to these indices searchable."""
        names = sorted({self._index_name(definition) for definition in definitions})
        if names:
            await self._client.indices.refresh(index=",".join(names))
