"""The worker against a real SQLite file and the real Elasticsearch node."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from read_model.indices import delete_indices
from server.bootstrap import Container, build, migrate
from server.settings import Settings
from sync.worker import CONSUMER
from tests.support import STOREFRONT, assert_read_model_matches_write_model, drain, environment, indexed_products
from write_model.commands import AdjustStock, CreateProduct, DiscontinueProduct, UpdateProduct
from write_model.results import Accepted


async def _create(container: Container, count: int, label: str) -> list[str]:
    ids = []
    for n in range(count):
        result = await container.bus.dispatch(
            CreateProduct(sku=f"{label}-{n}", name=f"{label} product {n}", category=f"cat-{n % 3}",
                          price=Decimal(n) + Decimal("0.99"), tags=(f"t{n % 4}",), initial_stock=n)
        )
        assert isinstance(result, Accepted)
        ids.append(result.id)
    return ids


async def _churn(container: Container, ids: list[str], changes: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(changes):
        product_id = rng.choice(ids)
        command = rng.choice([
            UpdateProduct(id=product_id, name=f"renamed {rng.randrange(1000)}"),
            UpdateProduct(id=product_id, price=Decimal(rng.randrange(1, 500)) / 4),
            AdjustStock(product_id=product_id, delta=rng.randrange(1, 10)),
        ])
        assert isinstance(await container.bus.dispatch(command), Accepted)


async def test_replaying_every_event_leaves_every_document_identical(container: Container) -> None:
    ids = await _create(container, 30, "replay")
    await _churn(container, ids, 120, seed=1)
    await container.bus.dispatch(DiscontinueProduct(id=ids[0]))
    await drain(container)
    before = await indexed_products(container)

    await container.outbox.reset_checkpoint(CONSUMER)
    assert await drain(container) == await container.outbox.head()

    assert await indexed_products(container) == before
    await assert_read_model_matches_write_model(container)


async def test_a_worker_killed_mid_stream_resumes_from_its_checkpoint(container: Container, settings: Settings) -> None:
    small_batches = settings.model_copy(update={"sync_batch_size": 5})
    worker = await asyncio.create_subprocess_exec(
        STOREFRONT, "sync", env=environment(small_batches, STOREFRONT_SYNC_POLL_INTERVAL_MS="20"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        ids = await _create(container, 40, "restart")
        await _churn(container, ids, 60, seed=2)
        while await container.outbox.checkpoint(CONSUMER) == 0:
            await asyncio.sleep(0.01)
    finally:
        worker.kill()  # SIGKILL: no chance to finish the batch or save anything
        await worker.wait()
    killed_at = await container.outbox.checkpoint(CONSUMER)
    more_ids = await _create(container, 20, "after-kill")
    await _churn(container, ids + more_ids, 40, seed=3)
    assert killed_at < await container.outbox.head()

    restarted = build(small_batches, local_worker=False)
    try:
        assert await drain(restarted) == await restarted.outbox.head()
    finally:
        await restarted.close()

    assert len(await indexed_products(container)) == 60
    await assert_read_model_matches_write_model(container)


async def test_the_worker_wakes_on_a_commit_in_its_process(settings: Settings) -> None:
    slow_poll = settings.model_copy(update={"sync_poll_interval_ms": 60_000})
    container = build(slow_poll, local_worker=True)
    await migrate(container)
    worker_task = asyncio.create_task(container.worker.run())
    try:
        result = await container.bus.dispatch(CreateProduct(sku="wake-1", name="Wake", category="c", price=Decimal(1)))
        assert isinstance(result, Accepted)
        # The poll interval is a minute: only the commit's wake-up can make this pass.
        assert await container.positions.wait_for(result.position, timeout_s=10)
    finally:
        container.worker.stop()
        await asyncio.wait_for(worker_task, 10)
        await delete_indices(container.elasticsearch, settings.index_prefix)
        await container.close()
