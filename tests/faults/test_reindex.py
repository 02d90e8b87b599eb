"""Reindex under concurrent writes and reads: no failed read, final index complete; the old
index is removed afterwards; progress is shown (plain lines when not a terminal)."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal

from read_model.indices import FROM_STATE, indices_behind
from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import (
    ADJUST_STOCK,
    CREATE_AND_READ_PRODUCT,
    CUSTOMER,
    ORDER,
    PLACE_ORDER,
    PRODUCT,
    UPDATE_PRODUCT,
)
from tests.support import Api, assert_read_model_matches_write_model, run_storefront
from write_model.commands import CreateProduct, OrderLineRequest, PlaceOrder, RegisterCustomer
from write_model.results import Accepted

TIMEOUT_S = 120
COUNT_PRODUCTS = "{ products(first: 0) { totalCount } }"


@dataclass
class Catalog:
    """What exists and is indexed; the writer adds each product it has read back from the index."""

    products: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)


async def _accepted_id(container: Container, command: CreateProduct | RegisterCustomer | PlaceOrder) -> str:
    result = await container.bus.dispatch(command)
    assert isinstance(result, Accepted), result
    return result.id


async def _seed(container: Container, products: int, customers: int, orders: int) -> Catalog:
    catalog = Catalog()
    for n in range(products):
        catalog.products.append(await _accepted_id(container, CreateProduct(
            sku=f"SEED-{n}", name=f"Seeded item {n}", category=f"cat-{n % 4}", price=Decimal(n % 50) + Decimal("0.75"),
            tags=(f"t{n % 3}",), initial_stock=1000)))
    for n in range(customers):
        catalog.customers.append(await _accepted_id(container, RegisterCustomer(email=f"c{n}@example.com",
                                                                              name=f"Customer {n}")))
    for n in range(orders):
        catalog.orders.append(await _accepted_id(container, PlaceOrder(
            customer_id=catalog.customers[n % customers],
            lines=(OrderLineRequest(catalog.products[n], 1), OrderLineRequest(catalog.products[-n - 1], 2)))))
    return catalog


async def _write_until(stop: asyncio.Event, api: Api, catalog: Catalog) -> int:
    """Creates, updates, restocks and orders through the API; returns how many it sent."""
    rng = random.Random(7)
    writes = 0
    while not stop.is_set():
        product_id = rng.choice(catalog.products)
        match writes % 4:
            case 0:
                data = await api(CREATE_AND_READ_PRODUCT, {"input": {
                    "sku": f"LIVE-{writes}", "name": f"Live item {writes}", "category": "live", "price": "3.25",
                    "initialStock": 5}})
                created = data["createProduct"]
                assert created["product"], f"product {created['id']} not readable at its position {created['position']}"
                catalog.products.append(created["id"])
            case 1:
                price = f"{rng.randrange(100, 9999) / 100:.2f}"
                await api(UPDATE_PRODUCT, {"input": {"id": product_id, "price": price}})
            case 2:
                await api(ADJUST_STOCK, {"input": {"productId": product_id, "delta": rng.randrange(1, 5)}})
            case _:
                await api(PLACE_ORDER, {"input": {"customerId": rng.choice(catalog.customers),
                                                  "lines": [{"productId": product_id, "quantity": 1}]}})
        writes += 1
    return writes


async def _read_until(stop: asyncio.Event, api: Api, catalog: Catalog, seeded_products: int) -> int:
    """Reads what is known to be indexed, the newest product first (the one a swap would most
    likely lose); any error or missing document fails. Returns how many reads it made."""
    rng = random.Random(8)
    reads = 0
    while not stop.is_set():
        for product_id in (catalog.products[-1], rng.choice(catalog.products)):
            assert (await api(PRODUCT, {"id": product_id}))["product"], f"product {product_id} went missing"
        assert (await api(COUNT_PRODUCTS))["products"]["totalCount"] >= seeded_products
        customer_id, order_id = rng.choice(catalog.customers), rng.choice(catalog.orders)
        assert (await api(CUSTOMER, {"id": customer_id}))["customer"], f"customer {customer_id} went missing"
        assert (await api(ORDER, {"id": order_id}))["order"], f"order {order_id} went missing"
        reads += 5
    return reads



async def test_reindex_under_concurrent_writes_and_reads_loses_nothing_and_drops_the_old_index(
    api: Api, container: Container, settings: Settings
) -> None:
    seeded = 300
    catalog = await _seed(container, products=seeded, customers=20, orders=40)
    assert await container.indexed_position.wait_for(await container.outbox.head(), TIMEOUT_S)
    stop = asyncio.Event()
    # A failed read or write cancels the reindex at once (and kills its process).
    async with asyncio.timeout(2 * TIMEOUT_S), asyncio.TaskGroup() as traffic:
        writer = traffic.create_task(_write_until(stop, api, catalog))
        reader = traffic.create_task(_read_until(stop, api, catalog, seeded))
        try:
            result = await run_storefront(settings, "reindex")
        finally:
            stop.set()

    assert result.returncode == 0, result.stderr
    assert writer.result() > 0 and reader.result() > 0
    assert await container.indexed_position.wait_for(await container.outbox.head(), TIMEOUT_S)
    await assert_read_model_matches_write_model(container)
    assert "\x1b" not in result.stdout  # no bar, no colours: the output is a pipe
    client, prefix = container.elasticsearch, settings.index_prefix
    for definition in FROM_STATE:
        alias = definition.alias(prefix)
        served = await indices_behind(client, alias)
        assert len(served) == 1 and served[0].startswith(f"{alias}-r"), served
        assert f"{definition.name}: now served from {served[0]}" in result.stdout.splitlines()
        assert not await client.indices.exists(index=definition.concrete(prefix))
        assert re.search(rf"^{definition.name}: 0/(\d+) documents \(0%\)$", result.stdout, re.MULTILINE)
        assert re.search(rf"^{definition.name}: (\d+)/\1 documents \(100%\)$", result.stdout, re.MULTILINE)


async def test_an_unknown_index_is_a_one_line_error_before_anything_starts(settings: Settings) -> None:
    result = await run_storefront(settings, "reindex", "--index", "products", "--index", "nope")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: unknown index nope; choose from products, customers, orders"
    assert result.stdout == ""
