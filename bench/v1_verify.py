"""V1: auditing and rebuilding the read model. `storefront verify`'s comparison of the products
index with the write model against a raw scan of the same index; `storefront replay`'s fold of
the log into a new products index against the B1 method (the worker from checkpoint 0)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch
from sqlalchemy import insert

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_states, seed_outbox
from bench.common.context import Run
from bench.common.results import REPORT_ONLY, Outcome, Row
from read_model.indices import PRODUCTS, ensure_indices
from server.bootstrap import Container, build, migrate
from sync.reindex import Reindexer
from sync.verify import PAGE_SIZE
from write_model.database import Database
from write_model.money import from_minor_units
from write_model.tables import ProductRow


@dataclass(frozen=True)
class Sizes:
    products: int


async def run(run: Run, sizes: Sizes) -> Outcome:
    settings = run.settings("v1")
    container = build(settings, local_worker=False)
    try:
        await migrate(container)
        states = product_states(sizes.products, seed=16)
        await _seed_products(container.database, states)
        await seed_outbox(container.database, states)
        await ensure_indices(run.elasticsearch, settings.index_prefix)
        worker_seconds = await _worker(container)
        alias = PRODUCTS.alias(settings.index_prefix)
        raw_seconds, scanned = await _raw_scan(run.elasticsearch, alias)
        verify_seconds, drifted = await _verify(container)
        replay_seconds = await _replay(container)
        replayed = int((await run.elasticsearch.count(index=alias))["count"])
    finally:
        await container.close()
    count = sizes.products
    problems = [f"verify found {drifted:,} drifted documents in an index the worker built"] if drifted else []
    problems += [f"the raw scan saw {scanned:,} documents"] if scanned != count else []
    problems += [f"replay left {replayed:,} documents"] if replayed != count else []
    problem = "; ".join(problems) or None
    outcome = Outcome(rows=[
        Row("V1", "verify (products vs write model)", "documents/s", count / verify_seconds, count / raw_seconds,
            REPORT_ONLY, problem),
        Row("V1", "replay (products from the log)", "events/s", count / replay_seconds, count / worker_seconds,
            REPORT_ONLY, problem),
    ])
    outcome.notes += [
        f"{count:,} products, each in the write model's table and as one ProductCreated event in the outbox "
        f"(both written straight, as B1 does); the products index built by the worker from checkpoint 0.",
        f"Verify: `Verifier.verify(PRODUCTS)`, a merge join of the snapshot's states (keyset pages of "
        f"{PAGE_SIZE}) with a point-in-time scan of the index sorted by id, projecting every state and "
        f"comparing field by field: {verify_seconds:.1f} s. Baseline: the same point-in-time scan "
        f"(search_after, same page size) alone, no comparison: {raw_seconds:.1f} s.",
        f"Replay: `Reindexer.replay(PRODUCTS)`, new index, fold of the whole log, catch-up, alias swap: "
        f"{replay_seconds:.1f} s. Baseline: the B1 method, `SyncWorker.run_once` from checkpoint 0 to the "
        f"head into the live index (it also writes the events index): {worker_seconds:.1f} s.",
    ]
    return outcome


async def _seed_products(database: Database, states: list[dict[str, Any]]) -> None:
    """The products' rows, written straight: verify compares the index with these."""
    rows = [{"id": state["id"], "sku": state["sku"], "name": state["name"], "description": state["description"],
             "category": state["category"], "tags": state["tags"], "price": str(from_minor_units(state["priceMinor"])),
             "stock": state["stock"], "status": state["status"], "version": state["version"],
             "created_at": datetime.fromisoformat(state["createdAt"]),
             "updated_at": datetime.fromisoformat(state["updatedAt"])} for state in states]
    async with database.writer.begin() as connection:
        await connection.execute(insert(ProductRow), rows)


async def _worker(container: Container) -> float:
    """The B1 method: the worker batch by batch from checkpoint 0 to the head."""
    started = time.perf_counter()
    checkpoint, head = 0, await container.outbox.head()
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
    return time.perf_counter() - started


async def _raw_scan(client: AsyncElasticsearch, alias: str) -> tuple[float, int]:
    started = time.perf_counter()
    pit = await client.open_point_in_time(index=alias, keep_alive="2m")
    pit_id, search_after, seen = pit["id"], None, 0
    try:
        while True:
            page = await client.search(pit={"id": pit_id, "keep_alive": "2m"}, size=PAGE_SIZE, version=True,
                                       sort=[{"id": "asc"}], search_after=search_after, track_total_hits=False)
            hits = page["hits"]["hits"]
            seen += len(hits)
            if len(hits) < PAGE_SIZE:
                return time.perf_counter() - started, seen
            search_after = hits[-1]["sort"]
    finally:
        await client.close_point_in_time(id=pit_id)


async def _verify(container: Container) -> tuple[float, int]:
    started = time.perf_counter()
    drifted = [finding async for finding in container.verifier.verify(PRODUCTS)]
    return time.perf_counter() - started, len(drifted)


async def _replay(container: Container) -> float:
    lease = container.tracking.lease("bench-replay", timedelta(seconds=container.settings.sync_lease_ttl_s))
    reindexer = Reindexer(container.database, container.outbox, container.elasticsearch,
                          container.settings.index_prefix, container.settings.currency, lease)
    started = time.perf_counter()
    await reindexer.replay(PRODUCTS, lambda _name, _done, _total: None)
    return time.perf_counter() - started


BENCHMARK = Benchmark("V1", "verify and replay", full=Sizes(products=100_000), smoke=Sizes(products=1_000), run=run)
