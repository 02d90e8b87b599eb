"""Index definitions. Every index is reached through an alias, so it can be rebuilt and swapped.

Mappings use only what Elasticsearch's core server has (text, keyword, a lowercase
normalizer, numbers, dates), so the dev node and a full cluster behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError

_ANALYSIS: dict[str, Any] = {"normalizer": {"folded": {"type": "custom", "filter": ["lowercase"]}}}
# A force merge that expunges deletes (after an erasure rewrote documents, sync/erasure.py) merges
# every segment holding a replaced document, not only those where they pass 10%.
_MERGE: dict[str, Any] = {"policy": {"expunge_deletes_allowed": 0}}


@dataclass(frozen=True)
class IndexLayout:
    """Primary shards of every index the server creates, and replicas of each
    (``STOREFRONT_INDEX_SHARDS`` / ``STOREFRONT_INDEX_REPLICAS``). No replicas by default: on
    one node a replica has nowhere to go and would keep the cluster yellow."""

    shards: int = 1
    replicas: int = 0


DEFAULT_LAYOUT = IndexLayout()

PRODUCT_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "sku": {"type": "keyword", "normalizer": "folded"},
        "name": {"type": "text", "fields": {"sort": {"type": "keyword", "normalizer": "folded"}}},
        "description": {"type": "text"},
        "category": {"type": "keyword"},
        "tags": {"type": "keyword", "fields": {"text": {"type": "text"}}},
        # Exact decimal text for display; integer minor units for range filters and sorting.
        "price": {"type": "keyword", "index": False},
        "priceMinor": {"type": "long"},
        "currency": {"type": "keyword"},
        "stock": {"type": "long"},
        "inStock": {"type": "boolean"},
        "status": {"type": "keyword"},
        "version": {"type": "long"},
        "createdAt": {"type": "date"},
        "updatedAt": {"type": "date"},
    },
}


CUSTOMER_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "email": {"type": "keyword", "normalizer": "folded", "fields": {"text": {"type": "text"}}},
        "name": {"type": "text", "fields": {"sort": {"type": "keyword", "normalizer": "folded"}}},
        "orderCount": {"type": "long"},
        "totalSpent": {"type": "keyword", "index": False},
        "totalSpentMinor": {"type": "long"},
        "currency": {"type": "keyword"},
        "version": {"type": "long"},
        "createdAt": {"type": "date"},
        "updatedAt": {"type": "date"},
    },
}

_ORDER_LINE: dict[str, Any] = {
    "properties": {
        "productId": {"type": "keyword"},
        "sku": {"type": "keyword"},
        "name": {"type": "text"},
        "quantity": {"type": "long"},
        "unitPrice": {"type": "keyword", "index": False},
        "lineTotal": {"type": "keyword", "index": False},
    },
}

ORDER_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "customerId": {"type": "keyword"},
        "customerName": {"type": "text"},
        "status": {"type": "keyword"},
        "lines": _ORDER_LINE,
        "total": {"type": "keyword", "index": False},
        "totalMinor": {"type": "long"},
        "currency": {"type": "keyword"},
        "version": {"type": "long"},
        "placedAt": {"type": "date"},
        "updatedAt": {"type": "date"},
    },
}

# One document per event of the log, at its position (history and time travel). `data` is the
# event as the API shows it and `state` the document the event's own index received; neither is
# searched, so any event's shape fits this strict mapping.
EVENT_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "position": {"type": "long"},
        "type": {"type": "keyword"},
        "streamType": {"type": "keyword"},
        "streamId": {"type": "keyword"},
        # The customer whose record or order the stream is; none for products.
        "ownerId": {"type": "keyword"},
        "version": {"type": "long"},
        "occurredAt": {"type": "date"},
        "data": {"type": "object", "enabled": False},
        "state": {"type": "object", "enabled": False},
    },
}


@dataclass(frozen=True)
class IndexDefinition:
    name: str
    mapping: dict[str, Any]
    # False for an index the write model's current state cannot rebuild (it needs the whole
    # event log: `storefront replay`, not `storefront reindex`).
    from_state: bool = True

    def alias(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"

    def concrete(self, prefix: str) -> str:
        """The first index behind the alias; reindexing adds time-stamped successors."""
        return f"{self.alias(prefix)}-v1"


PRODUCTS = IndexDefinition("products", PRODUCT_MAPPING)
CUSTOMERS = IndexDefinition("customers", CUSTOMER_MAPPING)
ORDERS = IndexDefinition("orders", ORDER_MAPPING)
EVENTS = IndexDefinition("events", EVENT_MAPPING, from_state=False)
ALL_INDICES = (PRODUCTS, CUSTOMERS, ORDERS, EVENTS)
# What `reindex` rebuilds: the others need the whole event log (`replay`).
FROM_STATE = tuple(definition for definition in ALL_INDICES if definition.from_state)
BY_NAME = {definition.name: definition for definition in ALL_INDICES}


async def ensure_indices(client: AsyncElasticsearch, prefix: str, layout: IndexLayout = DEFAULT_LAYOUT) -> None:
    """Create each index with its alias unless the alias already exists."""
    for definition in ALL_INDICES:
        alias = definition.alias(prefix)
        if await client.indices.exists_alias(name=alias):
            continue
        try:
            await create_index(client, definition.concrete(prefix), definition, alias=alias, layout=layout)
        except BadRequestError as error:
            if error.error != "resource_already_exists_exception":  # another process won the race
                raise


async def create_index(
    client: AsyncElasticsearch, name: str, definition: IndexDefinition, alias: str | None = None,
    layout: IndexLayout = DEFAULT_LAYOUT,
) -> None:
    """Waits for the primaries only: replicas follow while documents arrive."""
    settings = {"number_of_shards": layout.shards, "number_of_replicas": layout.replicas, "analysis": _ANALYSIS,
                "merge": _MERGE}
    await client.indices.create(
        index=name, settings=settings, mappings=definition.mapping, aliases={alias: {}} if alias else None,
        wait_for_active_shards="1",
    )


async def indices_behind(client: AsyncElasticsearch, alias: str) -> list[str]:
    if not await client.indices.exists_alias(name=alias):
        return []
    return sorted(await client.indices.get_alias(name=alias))


async def point_alias(client: AsyncElasticsearch, alias: str, index: str, previous: list[str]) -> None:
    """Move the alias to `index` in one atomic step: readers see the old or the new, never none."""
    actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": alias}} for old in previous]
    actions.append({"add": {"index": index, "alias": alias}})
    await client.indices.update_aliases(actions=actions)


async def delete_indices(client: AsyncElasticsearch, prefix: str) -> None:
    """Drop every index of a prefix (tests and local resets)."""
    await client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
