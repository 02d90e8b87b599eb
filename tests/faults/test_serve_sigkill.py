"""`storefront serve` (a real process, in-process worker on) killed with SIGKILL under 16 connections
of mutations: what it answered as accepted is durable and reaches the read model after a restart,
and what it did not answer is either wholly there or not at all (group commit, issue 12). On
PostgreSQL too: commands commit concurrently there, each on a pooled connection of its own."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import AsyncElasticsearch

from read_model.indices import ORDERS, PRODUCTS, delete_indices
from server.settings import Settings
from tests.faults.write_model_audit import (
    Answered,
    assert_answered_are_durable,
    assert_nothing_half_applied,
    read_write_model,
)
from tests.support import Process, serving, wait_until

CONNECTIONS = 16
PRODUCTS_SEEDED = 5
CUSTOMERS_SEEDED = 4
# Accepted answers under load before the kill, and the bounds of the whole load.
KILL_AFTER_ACCEPTED = 150
LOAD_TIMEOUT_S = 60
REQUESTS_PER_CONNECTION = 400
CATCH_UP_TIMEOUT_S = 60

CREATE = """mutation($input: CreateProductInput!) { createProduct(input: $input) {
  __typename ... on ProductAccepted { id version position } } }"""
ADJUST = """mutation($input: AdjustStockInput!) { adjustStock(input: $input) {
  __typename ... on ProductAccepted { id version position } } }"""
PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  __typename ... on OrderAccepted { id version position } } }"""
REGISTER = """mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) {
  __typename ... on CustomerAccepted { id version position } } }"""
READ_BACK = """query($product: ID!, $order: ID!, $position: String) {
  product(id: $product, consistentWith: $position) { id version }
  order(id: $order, consistentWith: $position) { id version } }"""


@dataclass
class Load:
    answered: list[Answered] = field(default_factory=list)
    unanswered: int = 0
    products: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)


async def _mutate(client: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": document, "variables": {"input": variables}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    [result] = body["data"].values()
    assert isinstance(result, dict)
    return result


def _accepted(result: dict[str, Any], kind: str, event_type: str) -> Answered | None:
    if not result["__typename"].endswith("Accepted"):
        return None
    return Answered(kind, event_type, result["id"], result["version"], int(result["position"]))


async def _seed(client: httpx.AsyncClient, load: Load) -> None:
    for n in range(PRODUCTS_SEEDED):
        result = await _mutate(client, CREATE, {"sku": f"SEED-{n}", "name": f"Seed {n}", "category": "c",
                                                "price": "3.25", "initialStock": 1_000_000})
        answered = _accepted(result, "product", "ProductCreated")
        assert answered is not None, result
        load.answered.append(answered)
        load.products.append(answered.id)
    for n in range(CUSTOMERS_SEEDED):
        result = await _mutate(client, REGISTER, {"email": f"c{n}@example.com", "name": f"Customer {n}"})
        answered = _accepted(result, "customer", "CustomerRegistered")
        assert answered is not None, result
        load.answered.append(answered)
        load.customers.append(answered.id)


async def _connection(client: httpx.AsyncClient, load: Load, number: int, stop: asyncio.Event) -> None:
    """One connection's closed loop of mixed mutations, until the server is gone or `stop`."""
    rng = random.Random(number)
    for n in range(REQUESTS_PER_CONNECTION):
        if stop.is_set():
            return
        roll = rng.random()
        if roll < 0.3:
            document, kind, event_type = CREATE, "product", "ProductCreated"
            variables: dict[str, Any] = {"sku": f"L-{number}-{n}", "name": f"Load {n}", "category": "c",
                                         "price": "1.50", "initialStock": rng.randrange(0, 50)}
        elif roll < 0.6:
            document, kind, event_type = ADJUST, "product", "StockAdjusted"
            variables = {"productId": rng.choice(load.products), "delta": rng.choice([-2, -1, 1, 5])}
        else:
            document, kind, event_type = PLACE, "order", "OrderPlaced"
            lines = rng.sample(load.products[:PRODUCTS_SEEDED], k=rng.randrange(1, 4))
            variables = {"customerId": rng.choice(load.customers),
                         "lines": [{"productId": product, "quantity": rng.randrange(1, 4)} for product in lines]}
        try:
            result = await _mutate(client, document, variables)
        except httpx.TransportError:  # the server died with this request in flight
            load.unanswered += 1
            return
        answered = _accepted(result, kind, event_type)
        if answered is not None:
            load.answered.append(answered)
            if document is CREATE:
                load.products.append(answered.id)


async def _load_then_kill(process: Process, url: str, load: Load) -> None:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await _seed(client, load)
        seeded = len(load.answered)
        stop = asyncio.Event()
        connections = [asyncio.create_task(_connection(client, load, n, stop)) for n in range(CONNECTIONS)]
        try:
            await wait_until(lambda: len(load.answered) >= seeded + KILL_AFTER_ACCEPTED
                             or all(task.done() for task in connections), LOAD_TIMEOUT_S,
                             lambda: f"{KILL_AFTER_ACCEPTED} accepted answers; {len(load.answered) - seeded} came")
            assert not any(task.done() for task in connections), "the load must still run when the kill comes"
            os.kill(process.pid, signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
            await asyncio.wait_for(asyncio.gather(*connections), LOAD_TIMEOUT_S)
        finally:
            stop.set()
            await asyncio.gather(*connections, return_exceptions=True)


async def _assert_in_read_model(settings: Settings, url: str, model: dict[str, Any], answered: list[Answered]
                                ) -> None:
    """After the restart: the API reads consistently with the write model's head, and every
    answered product and order is then indexed at its write model version."""
    product = next(answer for answer in answered if answer.kind == "product")
    order = next(answer for answer in answered if answer.kind == "order")
    async with httpx.AsyncClient(base_url=url, timeout=CATCH_UP_TIMEOUT_S) as client:
        response = await client.post("/graphql", json={"query": READ_BACK, "variables": {
            "product": product.id, "order": order.id, "position": str(model["head"])}})
    data = response.json()["data"]
    assert data["product"]["version"] == model["products"][product.id]["version"]
    assert data["order"]["version"] == model["orders"][order.id]["version"]
    async with AsyncElasticsearch(settings.elasticsearch_url) as elasticsearch:
        for index, kind, table in ((PRODUCTS, "product", "products"), (ORDERS, "order", "orders")):
            alias = index.alias(settings.index_prefix)
            await elasticsearch.indices.refresh(index=alias)
            found = await elasticsearch.search(index=alias, size=10_000, query={"match_all": {}}, version=True)
            versions = {hit["_id"]: hit["_version"] for hit in found["hits"]["hits"]}
            for answer in (answer for answer in answered if answer.kind == kind):
                assert versions.get(answer.id) == model[table][answer.id]["version"], answer


async def test_sigkill_under_load_keeps_every_answered_mutation_and_half_applies_none(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    load = Load()
    try:
        async with serving(settings, log, STOREFRONT_SYNC_POLL_INTERVAL_MS="50") as (process, url):
            await _load_then_kill(process, url, load)
        assert process.returncode == -signal.SIGKILL
        assert load.unanswered > 0, "the kill must leave requests unanswered"

        model = await read_write_model(settings.database_url)
        assert_answered_are_durable(model, load.answered)
        assert_nothing_half_applied(model)
        assert len(model["events"]) >= len(load.answered)  # unanswered ones may have committed

        async with serving(settings, log, STOREFRONT_SYNC_POLL_INTERVAL_MS="50") as (_, url):
            await _assert_in_read_model(settings, url, await read_write_model(settings.database_url), load.answered)
    finally:
        async with AsyncElasticsearch(settings.elasticsearch_url) as elasticsearch:
            await delete_indices(elasticsearch, settings.index_prefix)
