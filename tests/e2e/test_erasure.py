"""Erasing a customer over real HTTP: afterwards their email and name are in no byte of the write
model's files, no document of any index and no history, while their orders, totals and stock stay
as they were; replay, reindex and verify bring nothing back; racing orders are erased or refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from sqlalchemy import text
from sqlalchemy.engine import make_url

from read_model.indices import CUSTOMERS, EVENTS, ORDERS
from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import (
    CANCEL_ORDER,
    CREATE_PRODUCT,
    CUSTOMER,
    ERASE_CUSTOMER,
    ORDER,
    PLACE_ORDER,
    PRODUCT,
    REGISTER_CUSTOMER,
)
from tests.support import Api, LiveServer, Secured, run_storefront, token, wait_until
from write_model.personal import ERASED_NAME

HISTORY = """
query History($stream: StreamType!, $id: ID!, $consistentWith: String) {
  history(stream: $stream, id: $id, first: 100, consistentWith: $consistentWith) {
    totalCount edges { node { position type version data } }
  }
}
"""
SETTLE_S = 30


@dataclass(frozen=True)
class Customer:
    """A customer with two orders, one of them cancelled. `marker` occurs in their email and in
    their name and nowhere else, so finding it anywhere finds their personal data."""

    id: str
    marker: str
    email: str
    name: str
    product_id: str
    order_ids: list[str]
    position: str


async def _customer_with_orders(api: Api) -> Customer:
    marker = uuid.uuid4().hex[:16]
    email, name = f"z.{marker}@erase.test", f"Zelda Erasable-{marker}"
    product = (await api(CREATE_PRODUCT, {"input": {"sku": f"E-{uuid.uuid4().hex[:8]}", "name": "Lamp", "category": "c",
                                                    "price": "4.25", "initialStock": 10}}))["createProduct"]
    customer_id = (await api(REGISTER_CUSTOMER, {"input": {"email": email, "name": name}}))["registerCustomer"]["id"]
    orders = [(await api(PLACE_ORDER, {"input": {"customerId": customer_id, "lines": [
        {"productId": product["id"], "quantity": quantity}]}}))["placeOrder"] for quantity in (1, 2)]
    cancelled = (await api(CANCEL_ORDER, {"input": {"id": orders[1]["id"]}}))["cancelOrder"]
    return Customer(customer_id, marker, email, name, product["id"], [order["id"] for order in orders],
                    cancelled["position"])


async def _erase(api: Api, customer_id: str) -> dict[str, Any]:
    erased: dict[str, Any] = (await api(ERASE_CUSTOMER, {"input": {"id": customer_id}}))["eraseCustomer"]
    return erased


async def _state(api: Api, customer: Customer, position: str) -> dict[str, Any]:
    """The customer, their orders and the product as the API serves them."""
    return {
        "customer": (await api(CUSTOMER, {"id": customer.id, "consistentWith": position}))["customer"],
        "orders": [(await api(ORDER, {"id": order_id}))["order"] for order_id in customer.order_ids],
        "product": (await api(PRODUCT, {"id": customer.product_id}))["product"],
    }


async def _histories(api: Api, customer: Customer, position: str) -> list[dict[str, Any]]:
    streams = [("CUSTOMER", customer.id)] + [("ORDER", order_id) for order_id in customer.order_ids]
    return [(await api(HISTORY, {"stream": stream, "id": stream_id, "consistentWith": position}))["history"]
            for stream, stream_id in streams]


async def _indices_holding(client: AsyncElasticsearch, prefix: str, marker: str) -> set[str]:
    """The indices of the prefix where `marker` is found: by a search over every field, or in any
    document's source (the events index keeps `data` and `state` unsearched)."""
    everything = f"{prefix}-*"
    await client.indices.refresh(index=everything)
    searched = await client.search(index=everything, size=100, query={
        "query_string": {"query": f"*{marker}*", "default_field": "*", "analyze_wildcard": True}})
    read = await client.search(index=everything, size=10_000, query={"match_all": {}})
    return ({hit["_index"] for hit in searched["hits"]["hits"]}
            | {hit["_index"] for hit in read["hits"]["hits"] if marker in json.dumps(hit["_source"])})


def _personal_indices(prefix: str) -> set[str]:
    return {definition.concrete(prefix) for definition in (CUSTOMERS, ORDERS, EVENTS)}


async def _deleted_documents(client: AsyncElasticsearch, prefix: str) -> int:
    stats = await client.indices.stats(index=",".join(_personal_indices(prefix)), metric="docs")
    return sum(index["primaries"]["docs"]["deleted"] for index in stats["indices"].values())


async def test_an_erased_customer_is_in_no_index_and_no_history_while_their_orders_stay(
    api: Api, live_server: LiveServer, settings: Settings
) -> None:
    customer = await _customer_with_orders(api)
    client, prefix = live_server.container.elasticsearch, settings.index_prefix
    before = await _state(api, customer, customer.position)
    assert before["customer"]["name"] == customer.name
    assert await _indices_holding(client, prefix, customer.marker) == _personal_indices(prefix)

    erased = await _erase(api, customer.id)

    assert erased["__typename"] == "CustomerAccepted"
    assert (erased["customer"]["name"], erased["customer"]["email"]) == (ERASED_NAME, "")
    assert await _indices_holding(client, prefix, customer.marker) == set()
    histories = await _histories(api, customer, erased["position"])
    assert customer.marker not in json.dumps(histories)
    customer_events = histories[0]["edges"]
    assert [edge["node"]["type"] for edge in customer_events] == ["CustomerRegistered", "CustomerErased"]
    assert {(edge["node"]["data"]["name"], edge["node"]["data"]["email"]) for edge in customer_events} == {
        (ERASED_NAME, None)}
    # Orders, totals and stock are what they were; only the personal fields changed.
    after = await _state(api, customer, erased["position"])
    assert after["orders"] == [{**order, "customerName": ERASED_NAME} for order in before["orders"]]
    assert after["product"] == before["product"]
    assert after["customer"] == {**before["customer"], "email": "", "name": ERASED_NAME, "version":
                                 before["customer"]["version"] + 1, "updatedAt": after["customer"]["updatedAt"]}

    refused = (await api(PLACE_ORDER, {"input": {"customerId": customer.id, "lines": [
        {"productId": customer.product_id, "quantity": 1}]}}))["placeOrder"]
    assert (refused["__typename"], refused["currentStatus"]) == ("InvalidStateError", "ERASED")
    again = await _erase(api, customer.id)
    assert (again["__typename"], again["currentStatus"]) == ("InvalidStateError", "ERASED")
    registered = (await api(REGISTER_CUSTOMER, {"input": {"email": customer.email, "name": customer.name}}))
    assert registered["registerCustomer"]["__typename"] == "CustomerAccepted"


# --- Rebuilding after an erasure ----------------------------------------------------------------


async def test_replay_reindex_and_verify_after_an_erasure_bring_nothing_back(
    api: Api, live_server: LiveServer, container: Container, settings: Settings
) -> None:
    customer = await _customer_with_orders(api)
    erased = await _erase(api, customer.id)
    served = await _state(api, customer, erased["position"])

    replayed = await run_storefront(settings, "replay")
    reindexed = await run_storefront(settings, "reindex")
    verified = await run_storefront(settings, "verify")

    assert replayed.returncode == 0 and reindexed.returncode == 0, replayed.stderr + reindexed.stderr
    assert (verified.returncode, verified.stdout.strip()) == (0, "no drift"), verified.stdout + verified.stderr
    assert await _indices_holding(container.elasticsearch, settings.index_prefix, customer.marker) == set()
    assert customer.marker not in json.dumps(await _histories(api, customer, erased["position"]))
    assert await _state(api, customer, erased["position"]) == served


# --- Orders racing an erasure ------------------------------------------------------------------


async def test_orders_racing_an_erasure_complete_before_it_and_are_erased_or_are_refused(
    api: Api, live_server: LiveServer, settings: Settings
) -> None:
    customer = await _customer_with_orders(api)
    stock = (await api(PRODUCT, {"id": customer.product_id, "consistentWith": customer.position}))["product"]["stock"]

    async def order() -> dict[str, Any]:
        placed: dict[str, Any] = (await api(PLACE_ORDER, {"input": {"customerId": customer.id, "lines": [
            {"productId": customer.product_id, "quantity": 1}]}}))["placeOrder"]
        return placed

    # Sent at once, the erasure among the orders: the server may take them in any order.
    results = await asyncio.gather(*[order() for _ in range(3)], _erase(api, customer.id),
                                   *[order() for _ in range(3)])
    erased = results.pop(3)
    late = await order()

    accepted = [result for result in results if result["__typename"] == "OrderAccepted"]
    refused = [result for result in results if result["__typename"] != "OrderAccepted"]
    assert [(result["__typename"], result["currentStatus"]) for result in [*refused, late]] == [
        ("InvalidStateError", "ERASED")] * (len(refused) + 1)
    # Every order that was placed committed before the erasure, which erased it with the rest.
    assert all(int(result["position"]) < int(erased["position"]) for result in accepted)
    [*_, erasure] = await live_server.container.outbox.read_streams([customer.id])
    placed_ids = customer.order_ids + [result["id"] for result in accepted]
    assert sorted(erasure.payload["orderIds"]) == sorted(placed_ids)
    for result in accepted:
        assert (await api(ORDER, {"id": result["id"], "consistentWith": erased["position"]}))["order"][
            "customerName"] == ERASED_NAME
    assert await _indices_holding(live_server.container.elasticsearch, settings.index_prefix, customer.marker) == set()
    served = await _state(api, customer, erased["position"])
    assert (served["customer"]["orderCount"], served["product"]["stock"]) == (1 + len(accepted), stock - len(accepted))


# --- Who may erase -----------------------------------------------------------------------------


async def test_a_customer_may_erase_themself_an_admin_anyone_and_another_customer_no_one(secured: Secured) -> None:
    admin = secured.as_admin()
    ann, bob, cid = [(await admin(REGISTER_CUSTOMER, {"input": {"email": f"{name}@erase.test", "name": name}}))[
        "registerCustomer"]["id"] for name in ("ann", "bob", "cid")]
    await admin.http.aclose()
    as_ann, as_bob = (f"Bearer {token(customer, ['customer'])}" for customer in (ann, bob))
    as_admin = f"Bearer {token('root', ['admin'])}"

    async def erase(authorization: str | None, customer_id: str) -> str:
        body = await secured.call(authorization, ERASE_CUSTOMER, {"input": {"id": customer_id}})
        if "errors" in body:
            code: str = body["errors"][0]["extensions"]["code"]
            return code
        typename: str = body["data"]["eraseCustomer"]["__typename"]
        return typename

    assert await erase(as_bob, ann) == "FORBIDDEN"
    assert await erase(None, ann) == "UNAUTHENTICATED"
    assert await erase(as_ann, ann) == "CustomerAccepted"
    assert await erase(as_admin, cid) == "CustomerAccepted"
    bob_now = (await secured.call(as_bob, CUSTOMER, {"id": bob}))["data"]["customer"]
    assert (bob_now["name"], bob_now["email"]) == ("bob", "bob@erase.test")


# --- Nothing left on disk ----------------------------------------------------------------------


def _sqlite_files(settings: Settings) -> bytes:
    """The SQLite database file and its write-ahead log, as bytes."""
    main = Path(str(make_url(settings.database_url).database))
    wal = main.with_name(f"{main.name}-wal")
    return main.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.sqlite_only
async def test_an_erased_customer_is_in_no_byte_of_the_sqlite_files_nor_of_the_index_segments(
    api: Api, live_server: LiveServer, settings: Settings
) -> None:
    customer = await _customer_with_orders(api)
    marker = customer.marker.encode()
    assert marker in _sqlite_files(settings)

    erased = await _erase(api, customer.id)

    assert erased["__typename"] == "CustomerAccepted"
    assert marker not in _sqlite_files(settings)
    # Rewritten documents leave their old copies in the segments until a merge expunges them, once
    # the node's retention leases (moved on every 30 s) let go of them.
    client, prefix = live_server.container.elasticsearch, settings.index_prefix

    async def expunged() -> bool:
        return await _deleted_documents(client, prefix) == 0

    await wait_until(expunged, 90, "the documents the erasure replaced expunged from their segments")


def _pg_dump() -> Path:
    return max(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), key=lambda path: int(path.parts[-3]))


async def _dump(settings: Settings) -> bytes:
    url = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(str(_pg_dump()), "--dbname", url, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    dump, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    return dump


async def _vacuumed_since(container: Container, tables: tuple[str, ...]) -> dict[str, Any]:
    async with container.database.reader.connect() as connection:
        rows = await connection.execute(text("SELECT relname, last_vacuum FROM pg_stat_user_tables "
                                             "WHERE relname = ANY(:tables)"), {"tables": list(tables)})
        return dict(rows.all())


@pytest.mark.postgres_only
async def test_an_erased_customer_is_not_in_pg_dump_after_the_scheduled_vacuum(
    api: Api, live_server: LiveServer, settings: Settings
) -> None:
    customer = await _customer_with_orders(api)
    assert customer.marker.encode() in await _dump(settings)
    tables = ("customers", "customer_keys")
    before = await _vacuumed_since(live_server.container, tables)

    erased = await _erase(api, customer.id)

    assert erased["__typename"] == "CustomerAccepted"

    async def vacuumed() -> bool:
        after = await _vacuumed_since(live_server.container, tables)
        return all(after.get(table) is not None and after[table] != before.get(table) for table in tables)

    await wait_until(vacuumed, SETTLE_S, f"VACUUM of {', '.join(tables)} after the erasure")
    assert customer.marker.encode() not in await _dump(settings)
