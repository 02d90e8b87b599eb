"""An aggregate's history and its documents as they were, over real HTTP, from the events index."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from read_model.indices import EVENTS, indices_behind
from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import (
    ADJUST_STOCK,
    CANCEL_ORDER,
    CREATE_PRODUCT,
    DISCONTINUE_PRODUCT,
    ORDER_FIELDS,
    PLACE_ORDER,
    PRODUCT_FIELDS,
    REGISTER_CUSTOMER,
    UPDATE_PRODUCT,
    create_product,
)
from tests.support import Api, Secured, run_storefront, stored_products, token
from write_model.tables import ProductRow, as_utc

HISTORY = """
query History($stream: StreamType!, $id: ID!, $first: Int, $after: String, $consistentWith: String) {
  history(stream: $stream, id: $id, first: $first, after: $after, consistentWith: $consistentWith) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { position type streamType streamId version occurredAt data } }
  }
}
"""

PRODUCT_AS_OF = f"""
query ProductAsOf($id: ID!, $asOf: String, $consistentWith: String) {{
  product(id: $id, asOf: $asOf, consistentWith: $consistentWith) {{ {PRODUCT_FIELDS} }}
}}
"""

ORDER_AS_OF = f"""
query OrderAsOf($id: ID!, $asOf: String, $consistentWith: String) {{
  order(id: $id, asOf: $asOf, consistentWith: $consistentWith) {{ {ORDER_FIELDS} }}
}}
"""


async def _history(api: Api, stream: str, stream_id: str, consistent_with: str, first: int = 20,
                   after: str | None = None) -> dict[str, Any]:
    variables = {"stream": stream, "id": stream_id, "first": first, "after": after, "consistentWith": consistent_with}
    history: dict[str, Any] = (await api(HISTORY, variables))["history"]
    return history


async def _all_pages(api: Api, stream: str, stream_id: str, consistent_with: str, first: int
                     ) -> list[dict[str, Any]]:
    pages = []
    after = None
    while True:
        page = await _history(api, stream, stream_id, consistent_with, first, after)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def _update(api: Api, product_id: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api(UPDATE_PRODUCT, {"input": {"id": product_id, **fields}}))["updateProduct"]
    assert result["__typename"] == "ProductAccepted", result
    return result


async def _adjust(api: Api, product_id: str, delta: int) -> dict[str, Any]:
    result: dict[str, Any] = (await api(ADJUST_STOCK, {"input": {"productId": product_id, "delta": delta}}))[
        "adjustStock"]
    assert result["__typename"] == "ProductAccepted", result
    return result


async def test_fifty_changes_to_a_product_come_back_in_version_order_over_three_pages(api: Api) -> None:
    created = await create_product(api, "HIST-1", stock=10)
    # What each event must show: (position, type, stock, price) after it.
    expected = [(created["position"], "ProductCreated", 10, "2.50")]
    stock, price = 10, "2.50"
    for change in range(1, 50):
        if change % 2:
            stock += change
            result = await _adjust(api, created["id"], change)
            expected.append((result["position"], "StockAdjusted", stock, price))
        else:
            price = f"{change}.05"
            result = await _update(api, created["id"], price=price)
            expected.append((result["position"], "ProductUpdated", stock, price))

    pages = await _all_pages(api, "PRODUCT", created["id"], consistent_with=expected[-1][0], first=20)

    assert [len(page["edges"]) for page in pages] == [20, 20, 10]
    assert {page["totalCount"] for page in pages} == {50}
    events = [edge["node"] for page in pages for edge in page["edges"]]
    assert [event["version"] for event in events] == list(range(1, 51))
    assert [(event["position"], event["type"], event["data"]["stock"], event["data"]["price"])
            for event in events] == expected
    assert {(event["streamType"], event["streamId"]) for event in events} == {("PRODUCT", created["id"])}
    assert all(event["data"]["version"] == event["version"] for event in events)
    assert not [key for event in events for key in event["data"] if key.endswith("Minor")]
    occurred = [datetime.fromisoformat(event["occurredAt"]) for event in events]
    assert occurred == sorted(occurred)


async def test_product_as_of_each_of_twenty_positions_is_the_write_model_state_then(
        api: Api, container: Container) -> None:
    before = await create_product(api, "ASOF-0")  # another stream's event, before the product's first
    created = await create_product(api, "ASOF-1", stock=3)
    states = [(created["position"], await _stored(container, created["id"]))]
    neighbour_positions = []
    for change in range(1, 20):
        if change == 19:
            result = (await api(DISCONTINUE_PRODUCT, {"input": {"id": created["id"]}}))["discontinueProduct"]
        elif change % 3 == 0:
            result = await _update(api, created["id"], name=f"Renamed {change}", price=f"{change}.99",
                                   tags=[f"t{change}"])
        else:
            result = await _adjust(api, created["id"], change)
        states.append((result["position"], await _stored(container, created["id"])))
        # An event of another stream after each change: asOf it is the state that change left.
        neighbour_positions.append((await _adjust(api, before["id"], 1))["position"])
    last = neighbour_positions[-1]

    for position, state in states:
        assert await _product_as_of(api, created["id"], position, last) == _as_served(state)
    for (_, state), position in zip(states[1:], neighbour_positions, strict=True):
        assert await _product_as_of(api, created["id"], position, last) == _as_served(state)
    assert await _product_as_of(api, created["id"], before["position"], last) is None
    assert await _product_as_of(api, created["id"], "0", last) is None


async def _stored(container: Container, product_id: str) -> ProductRow:
    return (await stored_products(container))[product_id]


async def _product_as_of(api: Api, product_id: str, position: str, consistent_with: str) -> dict[str, Any] | None:
    product: dict[str, Any] | None = (await api(PRODUCT_AS_OF, {"id": product_id, "asOf": position,
                                                                "consistentWith": consistent_with}))["product"]
    if product is not None:  # the same moments, whatever offset notation serialized them
        product["createdAt"] = datetime.fromisoformat(product["createdAt"])
        product["updatedAt"] = datetime.fromisoformat(product["updatedAt"])
    return product


def _as_served(row: ProductRow) -> dict[str, Any]:
    return {
        "id": row.id, "sku": row.sku, "name": row.name, "description": row.description, "category": row.category,
        "tags": row.tags, "price": {"amount": f"{Decimal(row.price):.2f}", "currency": "USD"}, "stock": row.stock,
        "inStock": row.stock > 0, "status": row.status, "version": row.version,
        "createdAt": as_utc(row.created_at), "updatedAt": as_utc(row.updated_at),
    }


async def test_order_as_of_shows_it_placed_then_cancelled(api: Api) -> None:
    product = await create_product(api, "ASOF-ORDER", stock=5)
    customer = (await api(REGISTER_CUSTOMER, {"input": {"email": "asof@example.com", "name": "Ada"}}))[
        "registerCustomer"]
    placed = (await api(PLACE_ORDER, {"input": {"customerId": customer["id"], "lines": [
        {"productId": product["id"], "quantity": 2}]}}))["placeOrder"]
    cancelled = (await api(CANCEL_ORDER, {"input": {"id": placed["id"], "reason": "changed my mind"}}))["cancelOrder"]
    assert cancelled["__typename"] == "OrderAccepted", cancelled

    async def order_as_of(position: str) -> dict[str, Any] | None:
        order: dict[str, Any] | None = (await api(ORDER_AS_OF, {"id": placed["id"], "asOf": position,
                                                                "consistentWith": cancelled["position"]}))["order"]
        return order

    assert await order_as_of(customer["position"]) is None
    at_placing = await order_as_of(placed["position"])
    at_cancelling = await order_as_of(cancelled["position"])
    assert at_placing is not None and at_cancelling is not None
    assert (at_placing["status"], at_placing["version"], at_placing["total"]) == (
        "PLACED", 1, {"amount": "5.00", "currency": "USD"})
    assert (at_cancelling["status"], at_cancelling["version"]) == ("CANCELLED", 2)
    assert at_placing["lines"] == at_cancelling["lines"]
    assert at_placing["lines"][0]["unitPrice"] == {"amount": "2.50", "currency": "USD"}


async def test_malformed_arguments_are_bad_user_input(api: Api) -> None:
    product = await create_product(api, "HIST-BAD")
    for query, variables in [
        (PRODUCT_AS_OF, {"id": product["id"], "asOf": "yesterday"}),
        (ORDER_AS_OF, {"id": "o", "asOf": "-1"}),
        (HISTORY, {"stream": "PRODUCT", "id": product["id"], "after": "not-a-cursor"}),
        (HISTORY, {"stream": "PRODUCT", "id": product["id"], "first": 101}),
    ]:
        body = await api.raw(query, variables)
        assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_USER_INPUT"], body


# --- Whose history a caller sees ---------------------------------------------------------------


def _bearer(subject: str, roles: list[str]) -> str:
    return f"Bearer {token(subject, roles)}"


async def test_a_customer_sees_their_own_history_only_and_an_admin_sees_all(secured: Secured) -> None:
    admin = secured.as_admin()
    product = (await admin(CREATE_PRODUCT, {"input": {"sku": "OWN-1", "name": "Lock", "category": "c",
                                                      "price": "5", "initialStock": 10}}))["createProduct"]
    ann, bob = [(await admin(REGISTER_CUSTOMER, {"input": {"email": f"{name}@history.test", "name": name}}))[
        "registerCustomer"]["id"] for name in ("ann", "bob")]
    placed = (await admin(PLACE_ORDER, {"input": {"customerId": ann, "lines": [
        {"productId": product["id"], "quantity": 1}]}}))["placeOrder"]
    cancelled = (await admin(CANCEL_ORDER, {"input": {"id": placed["id"]}}))["cancelOrder"]
    await admin.http.aclose()

    async def seen(authorization: str | None, stream: str, stream_id: str) -> Any:
        body = await secured.call(authorization, HISTORY, {"stream": stream, "id": stream_id,
                                                           "consistentWith": cancelled["position"]})
        if "errors" in body:
            return body["errors"][0]["extensions"]["code"]
        history = body["data"]["history"]
        assert history["totalCount"] == len(history["edges"])
        return [(edge["node"]["type"], edge["node"]["data"]["status"] if stream == "ORDER" else None)
                for edge in history["edges"]]

    order_events = [("OrderPlaced", "PLACED"), ("OrderCancelled", "CANCELLED")]
    as_ann, as_bob, as_admin = _bearer(ann, ["customer"]), _bearer(bob, ["customer"]), _bearer("root", ["admin"])
    assert await seen(as_ann, "ORDER", placed["id"]) == order_events
    assert await seen(as_admin, "ORDER", placed["id"]) == order_events
    assert await seen(as_bob, "ORDER", placed["id"]) == []
    assert await seen(None, "ORDER", placed["id"]) == "UNAUTHENTICATED"
    assert await seen(as_ann, "CUSTOMER", ann) == [("CustomerRegistered", None)]
    assert await seen(as_bob, "CUSTOMER", ann) == []
    assert await seen(as_admin, "CUSTOMER", bob) == [("CustomerRegistered", None)]
    assert await seen(None, "CUSTOMER", ann) == "UNAUTHENTICATED"
    # Products' history is public; the order took and gave back stock on the product's stream.
    assert [event for event, _ in await seen(None, "PRODUCT", product["id"])] == [
        "ProductCreated", "StockReserved", "StockReleased"]

    as_of = {"id": placed["id"], "asOf": placed["position"], "consistentWith": cancelled["position"]}
    assert (await secured.call(as_bob, ORDER_AS_OF, as_of))["data"]["order"] is None
    assert (await secured.call(as_ann, ORDER_AS_OF, as_of))["data"]["order"]["status"] == "PLACED"


# --- Rebuilding ---------------------------------------------------------------------------------


async def test_reindex_leaves_the_events_index_to_replay(settings: Settings, api: Api, container: Container) -> None:
    created = await create_product(api, "HIST-REINDEX")
    await _history(api, "PRODUCT", created["id"], created["position"])
    events_alias = EVENTS.alias(settings.index_prefix)
    served_before = await indices_behind(container.elasticsearch, events_alias)

    refused = await run_storefront(settings, "reindex", "--index", "events")
    assert refused.returncode == 1
    assert "events is built from the event log" in refused.stderr and "storefront replay" in refused.stderr
    rebuilt = await run_storefront(settings, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "events" not in rebuilt.stdout

    assert await indices_behind(container.elasticsearch, events_alias) == served_before
    history = await _history(api, "PRODUCT", created["id"], created["position"])
    assert [edge["node"]["position"] for edge in history["edges"]] == [created["position"]]
