"""Replay under concurrent writes and reads: no failed read, and every index ends equal, document
for document and version for version, to what the sync worker builds from the same log."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from read_model.indices import ALL_INDICES, ensure_indices, indices_behind
from server.bootstrap import Container
from server.settings import Settings
from sync.metrics import SyncMetrics
from sync.positions import IndexedPositionTracker
from sync.worker import SyncWorker, WorkerSettings
from tests.e2e.operations import CUSTOMER, ORDER, PRODUCT
from tests.faults.workload import Workload
from tests.support import Api, indexed, run_storefront
from write_model.consumers import Tracking

TIMEOUT_S = 120
# Batches whose bulk bodies stay under 1 MiB, above which aiohttp warns (an error in the suite) and
# which the worker's batch after a backlog, an event document with its state for each event, can pass.
BATCH_SIZE = 200


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sync_batch_size": BATCH_SIZE})


async def _read_until(stop: asyncio.Event, api: Api, workload: Workload) -> int:
    """Reads documents known to be indexed before the replay; any error or absence fails."""
    rng = random.Random(3)
    products, customers, orders = list(workload.products), list(workload.customers), list(workload.orders)
    reads = 0
    while not stop.is_set():
        product_id, customer_id, order_id = rng.choice(products), rng.choice(customers), rng.choice(orders)
        assert (await api(PRODUCT, {"id": product_id}))["product"], f"product {product_id} went missing"
        assert (await api(CUSTOMER, {"id": customer_id}))["customer"], f"customer {customer_id} went missing"
        assert (await api(ORDER, {"id": order_id}))["order"], f"order {order_id} went missing"
        reads += 3
    return reads


async def _write_until(stop: asyncio.Event, workload: Workload) -> int:
    while not stop.is_set():
        await workload.run(5)
    return workload.accepted


async def _worker_built(container: Container, prefix: str) -> Container:
    """The sync worker's own build of the whole log into indices of another prefix, tracked under
    a consumer of its own so the running worker's checkpoint is left alone."""
    settings = container.settings.model_copy(update={"index_prefix": prefix})
    tracking = Tracking(container.database, f"replay-reference-{prefix}")
    worker = SyncWorker(container.outbox, tracking, tracking.dead_letters(),
                        tracking.lease("reference", timedelta(seconds=30)), container.elasticsearch,
                        IndexedPositionTracker(tracking.position), SyncMetrics(CollectorRegistry()),
                        WorkerSettings(index_prefix=prefix, currency=settings.currency, batch_size=BATCH_SIZE))
    await ensure_indices(container.elasticsearch, prefix)
    checkpoint, head = 0, await container.outbox.head()
    while checkpoint < head:
        checkpoint = await worker.run_once(checkpoint)
    return replace(container, settings=settings)


async def _documents(container: Container) -> dict[str, dict[str, dict[str, Any]]]:
    return {definition.name: await indexed(container, definition) for definition in ALL_INDICES}


async def test_replay_under_concurrent_writes_and_reads_builds_what_the_worker_builds(
    api: Api, container: Container, settings: Settings
) -> None:
    workload = Workload(container, seed=16)
    await workload.run(400)
    assert await container.indexed_position.wait_for(await container.outbox.head(), TIMEOUT_S)
    stop = asyncio.Event()
    async with asyncio.timeout(2 * TIMEOUT_S), asyncio.TaskGroup() as traffic:
        writer = traffic.create_task(_write_until(stop, workload))
        reader = traffic.create_task(_read_until(stop, api, workload))
        try:
            result = await run_storefront(settings, "replay")
        finally:
            stop.set()

    assert result.returncode == 0, result.stderr
    assert writer.result() > 400 and reader.result() > 0
    assert await container.indexed_position.wait_for(await container.outbox.head(), TIMEOUT_S)
    reference = await _worker_built(container, f"{settings.index_prefix}-reference")
    replayed, built = await _documents(container), await _documents(reference)
    for definition in ALL_INDICES:
        assert replayed[definition.name] == built[definition.name], definition.name
        assert built[definition.name], definition.name
        alias = definition.alias(settings.index_prefix)
        served = await indices_behind(container.elasticsearch, alias)
        assert len(served) == 1 and served[0].startswith(f"{alias}-r"), served
        assert f"{definition.name}: now served from {served[0]}" in result.stdout.splitlines()
        assert re.search(rf"^{definition.name}: (\d+)/\1 events \(100%\)$", result.stdout, re.MULTILINE)


async def test_an_unknown_index_is_a_one_line_error(settings: Settings) -> None:
    result = await run_storefront(settings, "replay", "--index", "nope")

    assert result.returncode != 0
    assert result.stderr.strip() == "error: unknown index nope; choose from products, customers, orders, events"
    assert result.stdout == ""
