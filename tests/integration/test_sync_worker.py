"""The worker against a real SQLite file and the real Elasticsearch node."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, update

from read_model.indices import CUSTOMERS, ORDERS, PRODUCTS, delete_indices
from server.bootstrap import Container, build, migrate
from server.settings import Settings
from tests.support import (
    STOREFRONT,
    assert_read_model_matches_write_model,
    drain,
    environment,
    indexed,
    indexed_products,
    wait_until,
)
from write_model import events
from write_model.commands import AdjustStock, CreateProduct, DiscontinueProduct, UpdateProduct
from write_model.results import Accepted
from write_model.tables import OutboxHeadRow, OutboxRow


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

    await container.tracking.rewind()
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
        await wait_until(container.tracking.position, 60, "the worker's first checkpoint")
    finally:
        worker.kill()  # SIGKILL: no chance to finish the batch or save anything
        await worker.wait()
    killed_at = await container.tracking.position()
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
        assert await container.indexed_position.wait_for(result.position, timeout_s=10)
    finally:
        container.worker.stop()
        await asyncio.wait_for(worker_task, 10)
        await delete_indices(container.elasticsearch, settings.index_prefix)
        await container.close()


_AT = "2026-01-01T00:00:00+00:00"
# Payloads as events stored them before amounts moved to minor units: the log keeps them as they are.
_LEGACY_EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    (events.PRODUCT, events.PRODUCT_CREATED, {
        "id": "p-old", "sku": "OLD-1", "name": "Old mug", "description": "", "category": "kitchen", "tags": [],
        "price": "12.50", "stock": 3, "status": "ACTIVE", "version": 1, "createdAt": _AT, "updatedAt": _AT}),
    (events.ORDER, events.ORDER_PLACED, {
        "id": "o-old", "customerId": "c-old", "customerName": "Ann", "status": "PLACED", "total": "25.05",
        "version": 1, "placedAt": _AT, "updatedAt": _AT,
        "lines": [{"productId": "p-old", "sku": "OLD-1", "name": "Old mug", "quantity": 2, "unitPrice": "12.50",
                   "lineTotal": "25.00"},
                  {"productId": "p-pin", "sku": "PIN-1", "name": "Pin", "quantity": 1, "unitPrice": "0.05",
                   "lineTotal": "0.05"}],
        "customer": {"id": "c-old", "email": "ann@example.com", "name": "Ann", "orderCount": 1, "totalSpent": "25.05",
                     "version": 1, "createdAt": _AT, "updatedAt": _AT}}),
]


async def test_events_stored_with_decimal_amounts_are_indexed_as_they_always_were(container: Container) -> None:
    async with container.database.writer.begin() as connection:
        await connection.execute(insert(OutboxRow), [
            {"position": position, "event_id": str(uuid.uuid4()), "stream_type": stream_type,
             "stream_id": payload["id"], "stream_version": 1, "event_type": event_type, "payload": payload,
             "occurred_at": datetime.now(UTC)}
            for position, (stream_type, event_type, payload) in enumerate(_LEGACY_EVENTS, start=1)
        ])
        await connection.execute(update(OutboxHeadRow).values(position=len(_LEGACY_EVENTS)))

    assert await drain(container) == len(_LEGACY_EVENTS)

    product = (await indexed(container, PRODUCTS))["p-old"]
    assert (product["price"], product["priceMinor"], product["inStock"]) == ("12.50", 1250, True)
    order = (await indexed(container, ORDERS))["o-old"]
    assert (order["total"], order["totalMinor"]) == ("25.05", 2505)
    assert [(line["unitPrice"], line["lineTotal"]) for line in order["lines"]] == [("12.50", "25.00"), ("0.05", "0.05")]
    customer = (await indexed(container, CUSTOMERS))["c-old"]
    assert (customer["totalSpent"], customer["totalSpentMinor"], customer["_version"]) == ("25.05", 2505, 2)


def _retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    return len([record for record in caplog.records if "retry" in record.getMessage()])


async def test_a_worker_stops_at_once_while_elasticsearch_is_unreachable(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`stop()` (SIGTERM, server shutdown) ends the retries and their backoff, not only a healthy loop."""
    unreachable = Settings(database_url=database_url,
                           elasticsearch_url="http://127.0.0.1:9", index_prefix=f"test-{uuid.uuid4().hex[:12]}",
                           sync_poll_interval_ms=50, elasticsearch_timeout_s=0.5)
    container = build(unreachable, local_worker=True)
    await migrate(container)
    try:
        await _create(container, 1, "UNREACHABLE")
        run = asyncio.create_task(container.worker.run())
        caplog.set_level(logging.WARNING, logger="sync.worker")
        await wait_until(lambda: _retries_logged(caplog) >= 3 or run.done(), 60, "three retries: into the backoff")
        assert not run.done(), run
        container.worker.stop()
        await asyncio.wait_for(run, timeout=2)
        assert await container.tracking.position() == 0, "a batch that never went through is not checkpointed"
    finally:
        await container.close()
