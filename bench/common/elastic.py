"""The indexing baseline (B1, B2) and a warm-up, so neither side pays for a cold JVM."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

from bench.common.catalog import CURRENCY, product_states
from read_model.indices import PRODUCTS, create_index
from sync.projections import product_document


@dataclass
class Progress:
    """Items done over time, for the progress plots."""

    seconds: list[float] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    def mark(self, started: float, done: int) -> None:
        self.seconds.append(time.perf_counter() - started)
        self.done.append(done)


async def products_index(client: AsyncElasticsearch, prefix: str) -> str:
    """A fresh products index with the project's mapping; returns its alias."""
    alias = PRODUCTS.alias(prefix)
    await create_index(client, PRODUCTS.concrete(prefix), PRODUCTS, alias=alias)
    return alias


async def raw_bulk(client: AsyncElasticsearch, alias: str, documents: list[tuple[str, dict[str, Any]]],
                   chunk_size: int) -> tuple[float, Progress]:
    """`async_streaming_bulk` (what `async_bulk` runs) of (id, document) pairs, then one refresh so
    the documents are searchable, as the worker leaves them. Returns the seconds it took."""
    progress = Progress()
    started = time.perf_counter()
    actions = ({"_index": alias, "_id": document_id, "_source": document} for document_id, document in documents)
    done = 0
    async for ok, item in async_streaming_bulk(client, actions, chunk_size=chunk_size):
        if not ok:
            raise RuntimeError(f"the baseline bulk failed: {item}")
        done += 1
        if done % chunk_size == 0:
            progress.mark(started, done)
    await client.indices.refresh(index=alias)
    progress.mark(started, done)
    return time.perf_counter() - started, progress


async def warm_up(client: AsyncElasticsearch, prefix: str, count: int = 2_000) -> None:
    alias = await products_index(client, prefix)
    documents = [(state["id"], product_document(state, CURRENCY)) for state in product_states(count, seed=99)]
    await raw_bulk(client, alias, documents, chunk_size=500)
    await client.indices.delete(index=PRODUCTS.concrete(prefix))
