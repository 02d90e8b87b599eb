"""Synthetic products, reproducible from a seed, and ways to put many of them in place fast."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from sqlalchemy import insert, update

from read_model.indices import PRODUCTS, ensure_indices
from sync.projections import product_document
from write_model import events
from write_model.database import Database
from write_model.money import to_minor_units
from write_model.tables import OutboxHeadRow, OutboxRow

CURRENCY = "USD"
ADJECTIVES = ["blue", "red", "green", "oak", "steel", "linen", "classic", "compact", "deluxe", "rustic",
              "modern", "vintage", "bright", "matte", "glossy", "soft", "sturdy", "tiny", "grand", "silent"]
NOUNS = ["mug", "lamp", "chair", "table", "kettle", "blanket", "vase", "shelf", "clock", "bowl",
         "pan", "rug", "desk", "stool", "mirror", "basket", "bottle", "pillow", "plate", "jar"]
DESCRIPTION_WORDS = ["handmade", "durable", "ceramic", "wooden", "washable", "recycled", "portable", "elegant",
                     "everyday", "gift", "kitchen", "garden", "office", "travel", "premium", "light", "heavy",
                     "stackable", "foldable", "warm", "cool", "bright", "quiet", "smooth", "natural"]
CATEGORIES = ["kitchen", "living", "bedroom", "office", "garden", "bath", "kids", "outdoor", "decor", "storage"]
TAGS = ["ceramic", "wood", "metal", "glass", "cotton", "wool", "eco", "sale", "new", "bestseller",
        "handmade", "gift", "premium", "set", "small", "large", "vintage", "modern", "washable", "outdoor"]
# What B4 searches for: common and rarer single words, and two-word queries that must both match.
SEARCH_TERMS = ["mug", "oak chair", "ceramic", "blue lamp", "handmade gift", "steel kettle", "vintage",
                "compact desk", "linen", "garden basket"]
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def product_input(n: int, rng: random.Random, sku_prefix: str = "B") -> dict[str, Any]:
    """The `CreateProductInput` of product n, as GraphQL variables take it."""
    return {
        "sku": f"{sku_prefix}-{n}",
        "name": f"{rng.choice(ADJECTIVES)} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {n}",
        "description": " ".join(rng.choices(DESCRIPTION_WORDS, k=rng.randrange(8, 24))),
        "category": rng.choice(CATEGORIES),
        "tags": sorted(set(rng.choices(TAGS, k=rng.randrange(1, 5)))),
        "price": f"{rng.randrange(100, 50_000) / 100:.2f}",
        "initialStock": rng.randrange(0, 200),
    }


def product_state(n: int, rng: random.Random) -> dict[str, Any]:
    """Product n as its ProductCreated event carries it (the shape of `write_model.products.state_payload`)."""
    given = product_input(n, rng)
    created = (_EPOCH + timedelta(seconds=n)).isoformat()
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "sku": given["sku"], "name": given["name"], "description": given["description"],
        "category": given["category"], "tags": given["tags"], "priceMinor": to_minor_units(given["price"]),
        "stock": given["initialStock"], "status": "ACTIVE", "version": 1,
        "createdAt": created, "updatedAt": created,
    }


def product_states(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [product_state(n, rng) for n in range(count)]


async def seed_outbox(database: Database, states: list[dict[str, Any]]) -> int:
    """Write one ProductCreated event per state straight into the outbox, in one transaction: the
    worker reads only the outbox, and the command path would take minutes for 50k events."""
    occurred = datetime.now(UTC)
    rows = [
        {"position": position, "event_id": str(uuid.uuid4()), "stream_type": events.PRODUCT,
         "stream_id": state["id"], "stream_version": 1, "event_type": events.PRODUCT_CREATED,
         "payload": state, "occurred_at": occurred}
        for position, state in enumerate(states, start=1)
    ]
    async with database.writer.begin() as connection:
        await connection.execute(insert(OutboxRow), rows)
        await connection.execute(update(OutboxHeadRow).values(position=len(rows)))
    return len(rows)


async def load_corpus(client: AsyncElasticsearch, prefix: str, count: int, seed: int = 4) -> None:
    """Index `count` products straight into a products index made with the project's mapping and
    projection, then refresh and merge: a read benchmark's data, without going through mutations.
    Merged to one segment, as a read model is once its merges have settled: just after the bulk,
    Elasticsearch merges in the background and answers a search at half its speed (R1's raw
    `_search` 215 against 440 requests/s), which would measure the merging, not the reads."""
    await ensure_indices(client, prefix)
    alias = PRODUCTS.alias(prefix)
    actions = ({"_index": alias, "_id": state["id"], "_source": product_document(state, CURRENCY)}
               for state in product_states(count, seed))
    await async_bulk(client, actions, chunk_size=1000)
    await client.indices.refresh(index=alias)
    await client.indices.forcemerge(index=alias, max_num_segments=1)
