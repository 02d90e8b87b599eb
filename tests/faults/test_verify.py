"""Drift made directly in Elasticsearch: `storefront verify` names exactly those documents and
exits 1, `--repair` puts them right (versions included, so later changes still reach the
index), a second `verify` exits 0; the worker's sampled check shows the drift in /metrics and
/readyz meanwhile."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from decimal import Decimal
from typing import Any

import httpx
import pytest

from read_model.indices import CUSTOMERS, EVENTS, ORDERS, PRODUCTS, IndexDefinition
from server.bootstrap import Container
from server.settings import Settings
from sync.drift import DriftKind
from tests.faults.workload import Workload
from tests.support import (
    STOREFRONT,
    LiveServer,
    assert_read_model_matches_write_model,
    drain,
    environment,
    run_storefront,
    unused_port,
    wait_until,
)
from write_model.commands import UpdateProduct
from write_model.results import Accepted

TIMEOUT_S = 60
DRIFT_LINE = re.compile(r"^(\w+)/(\S+): (\w+)")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A drift check that samples every document several times a second; batches whose bulk bodies
    stay under aiohttp's 1 MiB warning, an error in the suite."""
    return settings.model_copy(update={"drift_check_interval_s": 0.3, "drift_check_sample_size": 1000,
                                       "sync_batch_size": 200})


async def _seeded(container: Container) -> Workload:
    workload = Workload(container, seed=4)
    await workload.run(80)
    assert await container.indexed_position.wait_for(await container.outbox.head(), TIMEOUT_S)
    return workload


async def _get(container: Container, definition: IndexDefinition, document_id: str) -> dict[str, Any]:
    found = await container.elasticsearch.get(index=definition.alias(container.settings.index_prefix),
                                              id=document_id)
    source: dict[str, Any] = found["_source"]
    return source


async def _drift_by_hand(container: Container, workload: Workload) -> set[tuple[str, str, str]]:
    """Three deletions, two changed fields and one stray document, written straight into the indices
    (plain writes, so each changes the document's version as well); returns what verify must name."""
    client, prefix = container.elasticsearch, container.settings.index_prefix
    gone_products, changed_product = workload.products[:2], workload.products[2]
    for product_id in gone_products:
        await client.delete(index=PRODUCTS.alias(prefix), id=product_id)
    await client.delete(index=ORDERS.alias(prefix), id=workload.orders[0])
    product = await _get(container, PRODUCTS, changed_product)
    await client.index(index=PRODUCTS.alias(prefix), id=changed_product, document={**product, "name": "Tampered"})
    await client.update(index=CUSTOMERS.alias(prefix), id=workload.customers[0], doc={"name": "Mallory"})
    await client.index(index=PRODUCTS.alias(prefix), id="stray-product",
                       document={**product, "id": "stray-product", "sku": "STRAY-1"})
    await client.indices.refresh(index=f"{prefix}-*")
    return {
        *(("products", product_id, "missing") for product_id in gone_products),
        ("orders", workload.orders[0], "missing"),
        ("products", changed_product, "differs"),
        ("customers", workload.customers[0], "differs"),
        ("products", "stray-product", "extra"),
    }


def _named(stdout: str) -> set[tuple[str, str, str]]:
    return {match.groups() for line in stdout.splitlines() if (match := DRIFT_LINE.match(line))}


async def _drift_metric(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    return sum(float(value) for value in re.findall(
        r"^storefront_read_model_drift_documents\{[^}]*\} (\S+)$", text, re.MULTILINE))


async def test_verify_names_direct_drift_repair_fixes_it_and_the_worker_reports_it_meanwhile(
    live_server: LiveServer, container: Container, settings: Settings
) -> None:
    workload = await _seeded(container)
    drift = await _drift_by_hand(container, workload)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        assert await wait_until(lambda: _metric_is(http, 6), TIMEOUT_S, "the drift metric to count 6 documents")
        ready = (await http.get("/readyz")).json()
        assert ready["status"] == "ready" and "read model drift: 6 documents" in ready["warnings"][0], ready

        found = await run_storefront(settings, "verify")
        as_json = await run_storefront(settings, "verify", "--json")
        repaired = await run_storefront(settings, "verify", "--repair")
        again = await run_storefront(settings, "verify")

        assert (found.returncode, _named(found.stdout)) == (1, drift), found.stdout + found.stderr
        assert found.stdout.splitlines()[-1] == "6 documents drifted"
        objects = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert as_json.returncode == 1
        assert {(item["index"], item["id"], item["kind"]) for item in objects} == drift
        assert repaired.returncode == 0, repaired.stderr
        assert _named(repaired.stdout) == drift
        assert (again.returncode, again.stdout.strip()) == (0, "no drift"), again.stdout + again.stderr
        assert await wait_until(lambda: _metric_is(http, 0), TIMEOUT_S, "the drift metric back at 0")
        assert (await http.get("/readyz")).json() == {"status": "ready"}
    await assert_read_model_matches_write_model(container)
    # Its version is the write model's again, so the product's next version is not refused as stale.
    result = await container.bus.dispatch(UpdateProduct(id=workload.products[2], price=Decimal("1.25")))
    assert isinstance(result, Accepted)
    assert await container.indexed_position.wait_for(result.position, TIMEOUT_S)
    assert (await _get(container, PRODUCTS, workload.products[2]))["price"] == "1.25"


async def _metric_is(http: httpx.AsyncClient, count: float) -> bool:
    return await _drift_metric(http) == count


async def test_a_sync_process_checks_for_drift_while_it_holds_the_lease_and_serves_its_metrics(
    container: Container, settings: Settings
) -> None:
    """Workers run as `storefront sync` beside `serve --no-sync` APIs in a cluster: there the lease
    holder samples, and its metrics port shows what it found."""
    port = unused_port()
    env = environment(settings, STOREFRONT_DRIFT_CHECK_INTERVAL_S="0.3", STOREFRONT_SYNC_POLL_INTERVAL_MS="50")
    worker = await asyncio.create_subprocess_exec(STOREFRONT, "sync", "--metrics-port", str(port), env=env,
                                                  stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        drift = await _drift_by_hand(container, await _seeded(container))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert await wait_until(lambda: _metric_is(http, len(drift)), TIMEOUT_S,
                                    "the worker's drift metric to count the drifted documents")
            assert re.search(r"^storefront_sync_lease_held 1\.0$", (await http.get("/metrics")).text, re.MULTILINE)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, stderr.decode()


async def test_verify_compares_the_events_index_with_the_outbox(
    live_server: LiveServer, container: Container, settings: Settings
) -> None:
    await _seeded(container)
    client, alias = container.elasticsearch, EVENTS.alias(settings.index_prefix)
    event = await _get(container, EVENTS, "3")
    await client.delete(index=alias, id="3")
    await client.index(index=alias, id="999999", document={**event, "position": 999_999})
    await client.indices.refresh(index=alias)

    found = await run_storefront(settings, "verify", "--index", "events", "--json")
    repaired = await run_storefront(settings, "verify", "--index", "events", "--repair")
    again = await run_storefront(settings, "verify", "--index", "events")

    assert found.returncode == 1, found.stderr
    assert {(item["id"], item["kind"]) for item in map(json.loads, found.stdout.splitlines())} == {
        ("3", "missing"), ("999999", "extra")}
    assert repaired.returncode == 0, repaired.stderr
    assert (again.returncode, again.stdout.strip()) == (0, "no drift"), again.stdout + again.stderr
    assert await _get(container, EVENTS, "3") == event


async def test_a_sample_checks_a_bounded_window_wrapping_around_the_last_id(container: Container) -> None:
    workload = Workload(container, seed=5)
    await workload.run(60)
    await drain(container)
    alias = PRODUCTS.alias(container.settings.index_prefix)
    await container.elasticsearch.bulk(operations=[{"delete": {"_index": alias, "_id": product_id}}
                                                   for product_id in workload.products], refresh=True)

    samples = [await container.verifier.sample(PRODUCTS, 4) for _ in range(12)]

    assert len(workload.products) > 4
    assert all(len(findings) == 4 for findings in samples), [len(findings) for findings in samples]
    assert {finding.drift.kind for findings in samples for finding in findings} == {DriftKind.MISSING}
    assert {finding.drift.id for findings in samples for finding in findings} <= set(workload.products)


async def test_an_unknown_index_is_a_one_line_error(settings: Settings) -> None:
    result = await run_storefront(settings, "verify", "--index", "nope")

    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown index nope; choose from products, customers, orders, events"
    assert result.stdout == ""
