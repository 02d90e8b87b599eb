"""B2: backlog drain. Commands write events through the real command bus while no worker runs (as
when Elasticsearch is down: nothing gets indexed), then the worker starts and drains the backlog.
Zero lost: every product document must then equal what the write model holds."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.elastic import raw_bulk, warm_up
from bench.common.measure import Throughput, closed_loop
from bench.common.plots import bars
from bench.common.profiling import profiled
from bench.common.results import Outcome, Row, ratio_at_least
from read_model.indices import EVENTS, PRODUCTS, create_index, ensure_indices
from server.bootstrap import Container, build, migrate
from sync.projections import IndexDocument, product_document, project
from write_model.commands import AdjustStock, Command, CreateProduct, UpdateProduct
from write_model.events import StoredEvent
from write_model.products import state_payload
from write_model.results import Accepted
from write_model.tables import ProductRow

# Concurrent writers, as concurrent API requests would be.
WRITERS = 8
WRITE_TIME_LIMIT_S = 600.0
DRAIN_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Sizes:
    events: int
    # One product per this many events; the other events update and restock them.
    events_per_product: int = 5
    batch_size: int = 2000  # the worker's default (STOREFRONT_SYNC_BATCH_SIZE)


async def run(run: Run, sizes: Sizes) -> Outcome:
    settings = run.settings("b2", sync_batch_size=sizes.batch_size)
    container = build(settings, local_worker=False)
    client = run.elasticsearch
    try:
        await migrate(container)
        # The indices exist from before the outage; the drain should not pay for creating them.
        await ensure_indices(client, settings.index_prefix)
        writes = await _write_backlog(container, sizes)
        head = await container.outbox.head()
        operations = [target for event in await _all_events(container, head)
                      for target in project(event, settings.currency)]
        await warm_up(client, f"{run.run_id}-b2-warm")
        raw_seconds = await _raw_baseline(client, f"{run.run_id}-b2-raw", operations, sizes.batch_size)
        with profiled(run.profile_file("B2-worker")):
            drain_seconds = await _drain(container, head)
        lost = await _lost(container)
        checkpoint = await container.tracking.position()
        parked = await container.dead_letters.count()
    finally:
        await container.close()
    problems = [f"{lost:,} documents missing or stale"] if lost else []
    problems += [f"checkpoint {checkpoint:,} short of head {head:,}"] if checkpoint != head else []
    problems += [f"{parked:,} dead letters"] if parked else []
    outcome = Outcome(rows=[Row("B2", "backlog drain", "events/s", head / drain_seconds, head / raw_seconds,
                                ratio_at_least(0.8), "; ".join(problems) or None)])
    outcome.notes += [
        f"Backlog: {writes.done:,} commands ({head:,} events) through the command bus by {WRITERS} concurrent "
        f"writers at {writes.per_second:,.0f} commands/s, with no worker running.",
        f"Ours: `SyncWorker.run()` (lease, outbox tail, bulk, refresh, checkpoint) started on the backlog and "
        f"waited for with `IndexedPositionTracker.wait_for(head)`: {drain_seconds:.1f} s.",
        f"Baseline (the B1 method on these events): `async_streaming_bulk` of the {len(operations):,} projected "
        f"documents (each event's product and its entry in the events index), index by index, chunk size "
        f"{sizes.batch_size}, a refresh after each: {raw_seconds:.1f} s.",
        f"Zero lost: {lost:,} product documents differ from the write model; checkpoint {checkpoint:,} of head "
        f"{head:,}; {parked:,} dead letters.",
    ]
    rates = {"ours (worker drain)": head / drain_seconds, "baseline (async_bulk)": head / raw_seconds}
    outcome.plots.append(bars(run.out / "b2-drain.png", "B2: backlog drain rate", rates, "events/s"))
    return outcome


async def _write_backlog(container: Container, sizes: Sizes) -> Throughput:
    """One event per command: creates, and price updates and restocks of products created earlier."""
    rng = random.Random(2)
    products: list[str] = []

    def command(n: int) -> Command:
        if n % sizes.events_per_product == 0 or not products:
            return CreateProduct(**_create_arguments(product_input(n, rng, "B2")))
        if rng.random() < 0.5:
            return AdjustStock(product_id=rng.choice(products), delta=rng.randrange(1, 50))
        return UpdateProduct(id=rng.choice(products), price=Decimal(rng.randrange(100, 50_000)) / 100)

    async def dispatch(n: int) -> None:
        sent = command(n)
        result = await container.bus.dispatch(sent)
        if not isinstance(result, Accepted):
            raise RuntimeError(f"command {n} was rejected: {result}")
        if isinstance(sent, CreateProduct):
            products.append(result.id)

    return await closed_loop(WRITERS, sizes.events, WRITE_TIME_LIMIT_S, dispatch)


def _create_arguments(given: dict[str, Any]) -> dict[str, Any]:
    return {"sku": given["sku"], "name": given["name"], "description": given["description"],
            "category": given["category"], "tags": tuple(given["tags"]), "price": Decimal(given["price"]),
            "initial_stock": given["initialStock"]}


async def _raw_baseline(client: AsyncElasticsearch, prefix: str, documents: list[IndexDocument],
                        chunk_size: int) -> float:
    """The B1 method on the documents the worker writes, one index after the other; the seconds in all."""
    seconds = 0.0
    for definition in (PRODUCTS, EVENTS):
        alias = definition.alias(prefix)
        await create_index(client, definition.concrete(prefix), definition, alias=alias)
        pairs = [(document.id, document.document) for document in documents if document.index is definition]
        seconds += (await raw_bulk(client, alias, pairs, chunk_size))[0]
    return seconds


async def _all_events(container: Container, head: int) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    while len(events) < head:
        events += await container.outbox.read_after(len(events), 5_000)
    return events


async def _drain(container: Container, head: int) -> float:
    started = time.perf_counter()
    task = asyncio.create_task(container.worker.run())
    try:
        if not await container.indexed_position.wait_for(head, DRAIN_TIMEOUT_S):
            raise TimeoutError(f"the worker did not reach position {head:,} within {DRAIN_TIMEOUT_S:g} s")
        return time.perf_counter() - started
    finally:
        container.worker.stop()
        await task


async def _lost(container: Container) -> int:
    """Products whose document is missing or differs from the write model's state."""
    async with AsyncSession(container.database.reader) as session:
        rows = list(await session.exec(select(ProductRow)))
    expected = {row.id: product_document(state_payload(row), container.settings.currency) for row in rows}
    alias = PRODUCTS.alias(container.settings.index_prefix)
    indexed = {hit["_id"]: hit["_source"] async for hit in async_scan(container.elasticsearch, index=alias)}
    return sum(1 for product_id, document in expected.items() if indexed.get(product_id) != document)


BENCHMARK = Benchmark("B2", "backlog drain", full=Sizes(events=20_000), smoke=Sizes(events=500), run=run)
