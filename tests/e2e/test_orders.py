"""Customers and orders over real HTTP: invariants across aggregates, denormalized documents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from server.bootstrap import Container
from tests.e2e.operations import (
    CANCEL_ORDER,
    CREATE_PRODUCT,
    CUSTOMER,
    CUSTOMERS,
    DISCONTINUE_PRODUCT,
    ORDER,
    ORDERS,
    PLACE_AND_READ_ORDER,
    PLACE_ORDER,
    PRODUCT,
    REGISTER_AND_READ_CUSTOMER,
    REGISTER_CUSTOMER,
    SHIP_ORDER,
    UPDATE_PRODUCT,
)
from tests.support import Api, assert_read_model_matches_write_model, stored_products

Maker = Callable[..., Awaitable[str]]


async def _product(api: Api, sku: str, stock: int, price: str = "10.00") -> str:
    data = await api(CREATE_PRODUCT, {"input": {"sku": sku, "name": f"Item {sku}", "category": "c", "price": price,
                                                "initialStock": stock}})
    product_id: str = data["createProduct"]["id"]
    return product_id


async def _customer(api: Api, name: str) -> str:
    data = await api(REGISTER_CUSTOMER, {"input": {"email": f"{name.lower()}@example.com", "name": name}})
    customer_id: str = data["registerCustomer"]["id"]
    return customer_id


async def _place(api: Api, customer_id: str, *lines: tuple[str, int], key: str | None = None) -> dict[str, Any]:
    order_lines = [{"productId": product_id, "quantity": quantity} for product_id, quantity in lines]
    variables = {"input": {"customerId": customer_id, "idempotencyKey": key, "lines": order_lines}}
    result: dict[str, Any] = (await api(PLACE_ORDER, variables))["placeOrder"]
    return result


async def _head(container: Container) -> str:
    return str(await container.outbox.head())


async def test_twenty_customers_race_for_five_units(api: Api, container: Container) -> None:
    product_id = await _product(api, "HOT-1", stock=5, price="12.50")
    customers = await asyncio.gather(*(_customer(api, f"Buyer{n}") for n in range(20)))

    results = await asyncio.gather(*(_place(api, customer_id, (product_id, 1)) for customer_id in customers))

    accepted = [r for r in results if r["__typename"] == "OrderAccepted"]
    refused = [r for r in results if r["__typename"] != "OrderAccepted"]
    assert len(accepted) == 5
    assert refused == [{"__typename": "InsufficientStockError", "message": "Only 0 of HOT-1 in stock, 1 requested.",
                        "productId": product_id, "requested": 1, "available": 0}] * 15
    assert (await stored_products(container))[product_id].stock == 0
    position = await _head(container)
    product = (await api(PRODUCT, {"id": product_id, "consistentWith": position}))["product"]
    assert (product["stock"], product["inStock"]) == (0, False)
    winners = {r["id"] for r in accepted}
    orders = (await api(ORDERS, {"filter": {"productId": product_id}, "first": 50}))["orders"]
    assert {edge["node"]["id"] for edge in orders["edges"]} == winners and orders["totalCount"] == 5
    spent = [(await api(CUSTOMER, {"id": customer_id}))["customer"] for customer_id in customers]
    assert sorted((c["orderCount"], c["totalSpent"]["amount"]) for c in spent) == [(0, "0.00")] * 15 + [
        (1, "12.50")] * 5
    await assert_read_model_matches_write_model(container)


async def test_an_order_with_one_short_line_reserves_nothing(api: Api, container: Container) -> None:
    plenty, scarce = await _product(api, "PLENTY", stock=5), await _product(api, "SCARCE", stock=1)
    customer_id = await _customer(api, "Ann")
    before = await _head(container)

    result = await _place(api, customer_id, (plenty, 2), (scarce, 2))

    assert result == {"__typename": "InsufficientStockError", "message": "Only 1 of SCARCE in stock, 2 requested.",
                      "productId": scarce, "requested": 2, "available": 1}
    stock = {product_id: row.stock for product_id, row in (await stored_products(container)).items()}
    assert stock == {plenty: 5, scarce: 1}
    assert await _head(container) == before
    orders = await api(ORDERS, {"consistentWith": before})
    assert orders["orders"]["totalCount"] == 0


async def test_cancel_sent_twice_at_once_releases_stock_once(api: Api, container: Container) -> None:
    product_id = await _product(api, "CANCEL-1", stock=5)
    customer_id = await _customer(api, "Bob")
    order = await _place(api, customer_id, (product_id, 3))
    assert (await stored_products(container))[product_id].stock == 2

    results = await asyncio.gather(*(api(CANCEL_ORDER, {"input": {"id": order["id"]}}) for _ in range(2)))

    outcomes = sorted(r["cancelOrder"]["__typename"] for r in results)
    assert outcomes == ["InvalidStateError", "OrderAccepted"]
    assert (await stored_products(container))[product_id].stock == 5
    position = await _head(container)
    product = (await api(PRODUCT, {"id": product_id, "consistentWith": position}))["product"]
    assert product["stock"] == 5
    customer = (await api(CUSTOMER, {"id": customer_id}))["customer"]
    assert (customer["orderCount"], customer["totalSpent"]["amount"]) == (0, "0.00")
    cancelled = (await api(ORDER, {"id": order["id"]}))["order"]
    assert (cancelled["status"], cancelled["version"]) == ("CANCELLED", 2)


async def test_an_order_snapshots_its_lines_and_carries_the_customer_name(api: Api) -> None:
    mug, pot = await _product(api, "MUG", stock=9, price="4.25"), await _product(api, "POT", stock=9, price="19.99")
    registered = (await api(REGISTER_AND_READ_CUSTOMER, {"input": {"email": "Cleo@Example.com", "name": "Cleo"}}))
    customer = registered["registerCustomer"]["customer"]
    assert (customer["email"], customer["orderCount"], customer["totalSpent"]) == (
        "Cleo@Example.com", 0, {"amount": "0.00", "currency": "USD"})

    variables = {"input": {"customerId": customer["id"], "lines": [{"productId": mug, "quantity": 3},
                                                                  {"productId": pot, "quantity": 1}]}}
    order = (await api(PLACE_AND_READ_ORDER, variables))["placeOrder"]["order"]
    assert order["customerName"] == "Cleo" and order["status"] == "PLACED"
    assert order["total"] == {"amount": "32.74", "currency": "USD"}
    assert [(line["sku"], line["quantity"], line["unitPrice"]["amount"], line["lineTotal"]["amount"])
            for line in order["lines"]] == [("MUG", 3, "4.25", "12.75"), ("POT", 1, "19.99", "19.99")]

    changed = await api(UPDATE_PRODUCT, {"input": {"id": mug, "price": "5.00", "name": "Big mug"}})
    position = changed["updateProduct"]["position"]
    again = (await api(ORDER, {"id": order["id"], "consistentWith": position}))["order"]
    assert again["lines"] == order["lines"]  # a snapshot: later product changes do not rewrite orders
    spender = (await api(CUSTOMER, {"id": customer["id"]}))["customer"]
    assert (spender["orderCount"], spender["totalSpent"]["amount"]) == (1, "32.74")


async def test_order_state_changes_and_their_typed_failures(api: Api, container: Container) -> None:
    product_id = await _product(api, "STATE-1", stock=10)
    customer_id = await _customer(api, "Dora")
    order = await _place(api, customer_id, (product_id, 1))

    stale = (await api(SHIP_ORDER, {"input": {"id": order["id"], "expectedVersion": 7}}))["shipOrder"]
    assert (stale["__typename"], stale["expectedVersion"], stale["actualVersion"]) == ("ConflictError", 7, 1)
    shipped = (await api(SHIP_ORDER, {"input": {"id": order["id"], "expectedVersion": 1}}))["shipOrder"]
    assert (shipped["__typename"], shipped["version"]) == ("OrderAccepted", 2)
    late_cancel = (await api(CANCEL_ORDER, {"input": {"id": order["id"]}}))["cancelOrder"]
    assert (late_cancel["__typename"], late_cancel["currentStatus"]) == ("InvalidStateError", "SHIPPED")
    missing = (await api(SHIP_ORDER, {"input": {"id": "no-such-order"}}))["shipOrder"]
    assert (missing["__typename"], missing["id"]) == ("NotFoundError", "no-such-order")

    assert (await stored_products(container))[product_id].stock == 9  # shipping keeps the reservation
    customer = (await api(CUSTOMER, {"id": customer_id, "consistentWith": shipped["position"]}))["customer"]
    assert customer["orderCount"] == 1  # shipped orders still count


async def test_place_order_validation_and_not_found(api: Api, container: Container) -> None:
    product_id = await _product(api, "VAL-1", stock=10)
    retired = await _product(api, "VAL-2", stock=10)
    await api(DISCONTINUE_PRODUCT, {"input": {"id": retired}})
    customer_id = await _customer(api, "Eve")
    before = await _head(container)

    def fields(result: dict[str, Any]) -> list[str]:
        assert result["__typename"] == "ValidationError", result
        return [f["field"] for f in result["fields"]]

    assert fields(await _place(api, customer_id)) == ["lines"]
    assert fields(await _place(api, customer_id, *[(f"p{n}", 1) for n in range(51)])) == ["lines"]
    assert fields(await _place(api, customer_id, (product_id, 0), (product_id, 1))) == [
        "lines.0.quantity", "lines.1.productId"]
    assert fields(await _place(api, customer_id, (retired, 1))) == ["lines.0.productId"]
    assert (await _place(api, "nobody", (product_id, 1)))["__typename"] == "NotFoundError"
    assert (await _place(api, customer_id, ("no-product", 1)))["id"] == "no-product"
    assert await _head(container) == before


async def test_place_order_runs_once_per_idempotency_key(api: Api, container: Container) -> None:
    product_id = await _product(api, "IDEM-O", stock=10)
    customer_id = await _customer(api, "Finn")
    results = await asyncio.gather(*(_place(api, customer_id, (product_id, 2), key="order-1") for _ in range(4)))
    assert len({(r["id"], r["position"]) for r in results}) == 1
    assert (await stored_products(container))[product_id].stock == 8
    other = await _place(api, customer_id, (product_id, 3), key="order-1")
    assert other["__typename"] == "ValidationError"


async def test_customer_registration_rules(api: Api) -> None:
    first = (await api(REGISTER_CUSTOMER, {"input": {"email": "gus@example.com", "name": "Gus",
                                                     "idempotencyKey": "reg-gus"}}))["registerCustomer"]
    again = (await api(REGISTER_CUSTOMER, {"input": {"email": "gus@example.com", "name": "Gus",
                                                     "idempotencyKey": "reg-gus"}}))["registerCustomer"]
    assert (again["id"], again["position"]) == (first["id"], first["position"])
    shouting = (await api(REGISTER_CUSTOMER, {"input": {"email": "GUS@Example.COM", "name": "Gus"}}))
    assert shouting["registerCustomer"] == {"__typename": "DuplicateError", "field": "email",
                                            "message": "A customer with email 'GUS@Example.COM' is already registered."}
    bad = (await api(REGISTER_CUSTOMER, {"input": {"email": "not-an-email", "name": " "}}))["registerCustomer"]
    assert [f["field"] for f in bad["fields"]] == ["email", "name"]


async def test_customer_search_and_paging(api: Api, container: Container) -> None:
    for name in ["Zoe Quill", "Adam Quill", "Mia Stone", "Bea Quill"]:
        await _customer(api, name.replace(" ", ""))
        await api(REGISTER_CUSTOMER, {"input": {"email": f"{name.split()[0].lower()}@quill.test", "name": name}})
    position = await _head(container)
    found = (await api(CUSTOMERS, {"search": "quill", "consistentWith": position}))["customers"]
    assert sorted(edge["node"]["name"] for edge in found["edges"]) == ["Adam Quill", "Bea Quill", "Zoe Quill"]
    by_email = (await api(CUSTOMERS, {"search": "mia@quill.test"}))["customers"]
    assert [edge["node"]["name"] for edge in by_email["edges"]] == ["Mia Stone"]
    names, after = [], None
    while True:
        page = (await api(CUSTOMERS, {"first": 3, "after": after}))["customers"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert page["totalCount"] == 8
    assert names == sorted(names, key=str.lower) and len(set(names)) == 8


async def test_orders_filter_on_every_field_and_sort_each_way(api: Api, container: Container) -> None:
    cheap, dear = await _product(api, "CHEAP", stock=100, price="1.00"), await _product(api, "DEAR", 100, "50.00")
    alice, bob = await _customer(api, "Alice"), await _customer(api, "Bobby")
    placed = []
    for customer_id, lines in [(alice, [(cheap, 1)]), (bob, [(dear, 1)]), (alice, [(cheap, 2), (dear, 1)]),
                               (bob, [(cheap, 5)]), (alice, [(dear, 2)])]:
        placed.append(await _place(api, customer_id, *lines))
    await api(CANCEL_ORDER, {"input": {"id": placed[1]["id"]}})
    await api(SHIP_ORDER, {"input": {"id": placed[3]["id"]}})
    position = await _head(container)
    ids = [order["id"] for order in placed]
    middle = (await api(ORDER, {"id": ids[2], "consistentWith": position}))["order"]["placedAt"]

    async def matching(order_filter: dict[str, Any], sort: str = "OLDEST") -> list[str]:
        found, after = [], None
        while True:
            page = (await api(ORDERS, {"filter": order_filter, "sort": sort, "first": 2, "after": after}))["orders"]
            found += [edge["node"]["id"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                assert page["totalCount"] == len(found)
                return found
            after = page["pageInfo"]["endCursor"]

    assert await matching({}) == ids
    assert await matching({}, "NEWEST") == ids[::-1]
    totals = {ids[0]: 1, ids[1]: 50, ids[2]: 52, ids[3]: 5, ids[4]: 100}
    assert await matching({}, "TOTAL_ASC") == sorted(ids, key=totals.__getitem__)
    assert await matching({}, "TOTAL_DESC") == sorted(ids, key=totals.__getitem__, reverse=True)
    assert await matching({"customerId": alice}) == [ids[0], ids[2], ids[4]]
    assert await matching({"status": ["CANCELLED", "SHIPPED"]}) == [ids[1], ids[3]]
    assert await matching({"productId": dear}) == [ids[1], ids[2], ids[4]]
    assert await matching({"placedAfter": middle}) == ids[3:]
    assert await matching({"placedBefore": middle}) == ids[:2]
    assert await matching({"customerId": bob, "status": ["PLACED"]}) == []
    await assert_read_model_matches_write_model(container)
    assert Decimal((await api(CUSTOMER, {"id": alice}))["customer"]["totalSpent"]["amount"]) == Decimal("153.00")
