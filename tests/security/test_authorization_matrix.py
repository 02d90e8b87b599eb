"""Every operation of the contract against every kind of caller, with the outcome each must get."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.e2e.operations import CREATE_PRODUCT, ERASE_CUSTOMER, PLACE_ORDER, REGISTER_CUSTOMER
from tests.support import Api, Secured, token

CALLERS = ["anonymous", "customer A", "customer B", "admin", "expired", "bad signature", "wrong role"]
OK, NULL, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND = "ok", "null", "UNAUTHENTICATED", "FORBIDDEN", "NotFoundError"
REJECTED = "connection rejected"


@dataclass
class World:
    product: str
    customer_a: str
    customer_b: str
    order_a: str
    order_b: str
    admin: Api

    def authorization(self, caller: str) -> str | None:
        tokens = {
            "anonymous": None,
            "customer A": token(self.customer_a, ["customer"]),
            "customer B": token(self.customer_b, ["customer"]),
            "admin": token("root", ["admin"]),
            "expired": token(self.customer_a, ["customer"], expires_in_s=-60),
            "bad signature": token("root", ["admin"], secret="another-secret-that-is-long-enough-too"),
            "wrong role": token("someone", ["guest"]),
        }
        value = tokens[caller]
        return None if value is None else f"Bearer {value}"

    async def new_order_of_a(self) -> str:
        placed = await self.admin(PLACE_ORDER, {"input": {"customerId": self.customer_a,
                                                          "lines": [{"productId": self.product, "quantity": 1}]}})
        order_id: str = placed["placeOrder"]["id"]
        return order_id


@pytest.fixture
async def world(secured: Secured) -> AsyncIterator[World]:
    admin = secured.as_admin()
    product = (await admin(CREATE_PRODUCT, {"input": {"sku": "AUTH-1", "name": "Lock", "category": "c",
                                                      "price": "5", "initialStock": 1000}}))["createProduct"]["id"]
    customers = [(await admin(REGISTER_CUSTOMER, {"input": {"email": f"{name}@auth.test", "name": name}}))[
        "registerCustomer"]["id"] for name in ("a", "b")]
    placed = [(await admin(PLACE_ORDER, {"input": {"customerId": customer, "lines": [
        {"productId": product, "quantity": 1}]}}))["placeOrder"] for customer in customers]
    await admin("query($p: String) { products(consistentWith: $p) { totalCount } }", {"p": placed[-1]["position"]})
    yield World(product, customers[0], customers[1], placed[0]["id"], placed[1]["id"], admin)
    await admin.http.aclose()


Variables = Callable[[World], Awaitable[dict[str, Any]]]


def fixed(make: Callable[[World], dict[str, Any]]) -> Variables:
    async def variables(world: World) -> dict[str, Any]:
        return make(world)
    return variables


def expect(anonymous: str, a: str, b: str, admin: str, wrong_role: str) -> dict[str, str]:
    """Expired and badly signed tokens are refused everywhere, so only five outcomes vary."""
    return {"anonymous": anonymous, "customer A": a, "customer B": b, "admin": admin,
            "expired": UNAUTHENTICATED, "bad signature": UNAUTHENTICATED, "wrong role": wrong_role}


EVERYONE = expect(OK, OK, OK, OK, OK)
OWNER_A = expect(UNAUTHENTICATED, OK, NULL, OK, FORBIDDEN)
ADMIN_ONLY = expect(UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN)

# Each event's stream id stands for the node, so a page reads as whose stream it is.
_HISTORY = "query($id: ID!) { history(stream: STREAM, id: $id) { edges { node { id: streamId } } } }"

QUERIES: list[tuple[str, str, Variables, dict[str, str]]] = [
    ("product", "query($id: ID!) { product(id: $id) { id } }", fixed(lambda w: {"id": w.product}), EVERYONE),
    ("products", "{ products { totalCount } }", fixed(lambda w: {}), EVERYONE),
    ("customer", "query($id: ID!) { customer(id: $id) { id } }", fixed(lambda w: {"id": w.customer_a}), OWNER_A),
    ("customers", "{ customers { edges { node { id } } } }", fixed(lambda w: {}),
     expect(UNAUTHENTICATED, "only A", "only B", "A and B", FORBIDDEN)),
    ("order", "query($id: ID!) { order(id: $id) { id } }", fixed(lambda w: {"id": w.order_a}), OWNER_A),
    ("orders", "query($f: OrderFilter) { orders(filter: $f) { edges { node { id } } } }", fixed(lambda w: {}),
     expect(UNAUTHENTICATED, "only A", "only B", "A and B", FORBIDDEN)),
    ("orders of B", "query($f: OrderFilter) { orders(filter: $f) { edges { node { id } } } }",
     fixed(lambda w: {"f": {"customerId": w.customer_b}}), expect(UNAUTHENTICATED, "none", "only B", "only B",
                                                                   FORBIDDEN)),
    ("syncStatus", "{ syncStatus { lag } }", fixed(lambda w: {}), ADMIN_ONLY),
    ("history of a product", "query($id: ID!) { history(stream: PRODUCT, id: $id) { totalCount } }",
     fixed(lambda w: {"id": w.product}), EVERYONE),
    ("history of customer A", _HISTORY.replace("STREAM", "CUSTOMER"), fixed(lambda w: {"id": w.customer_a}),
     expect(UNAUTHENTICATED, "only A", "none", "only A", FORBIDDEN)),
    ("history of order A", _HISTORY.replace("STREAM", "ORDER"), fixed(lambda w: {"id": w.order_a}),
     expect(UNAUTHENTICATED, "only A", "none", "only A", FORBIDDEN)),
    ("product asOf", "query($id: ID!) { product(id: $id, asOf: \"9999\") { id } }", fixed(lambda w: {"id": w.product}),
     EVERYONE),
    ("order asOf", "query($id: ID!) { order(id: $id, asOf: \"9999\") { id } }", fixed(lambda w: {"id": w.order_a}),
     OWNER_A),
]

_RESULT = "{ __typename ... on NotFoundError { id } }"


async def _cancel_variables(world: World) -> dict[str, Any]:
    return {"input": {"id": await world.new_order_of_a()}}


async def _ship_variables(world: World) -> dict[str, Any]:
    return {"input": {"id": await world.new_order_of_a()}}


async def _erase_variables(world: World) -> dict[str, Any]:
    """Someone new each time: neither A nor B, so only an admin may erase them."""
    registered = await world.admin(REGISTER_CUSTOMER, {"input": {"email": f"gone{_unique()}@auth.test",
                                                                  "name": "Gone"}})
    return {"input": {"id": registered["registerCustomer"]["id"]}}


MUTATIONS: list[tuple[str, str, Variables, dict[str, str]]] = [
    ("createProduct", f"mutation($input: CreateProductInput!) {{ createProduct(input: $input) {_RESULT} }}",
     fixed(lambda w: {"input": {"sku": f"NEW-{id(w)}-{_unique()}", "name": "n", "category": "c", "price": "1"}}),
     ADMIN_ONLY),
    ("updateProduct", f"mutation($input: UpdateProductInput!) {{ updateProduct(input: $input) {_RESULT} }}",
     fixed(lambda w: {"input": {"id": w.product, "name": "Renamed"}}), ADMIN_ONLY),
    ("adjustStock", f"mutation($input: AdjustStockInput!) {{ adjustStock(input: $input) {_RESULT} }}",
     fixed(lambda w: {"input": {"productId": w.product, "delta": 1}}), ADMIN_ONLY),
    ("discontinueProduct",
     f"mutation($input: DiscontinueProductInput!) {{ discontinueProduct(input: $input) {_RESULT} }}",
     fixed(lambda w: {"input": {"id": "no-such-product"}}),
     expect(UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, NOT_FOUND, FORBIDDEN)),
    ("registerCustomer", "mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) "
                         "{ __typename } }",
     fixed(lambda w: {"input": {"email": f"new{_unique()}@auth.test", "name": "New"}}), EVERYONE),
    ("placeOrder for A", f"mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {_RESULT} }}",
     fixed(lambda w: {"input": {"customerId": w.customer_a, "lines": [{"productId": w.product, "quantity": 1}]}}),
     expect(UNAUTHENTICATED, OK, FORBIDDEN, OK, FORBIDDEN)),
    ("cancelOrder of A", f"mutation($input: CancelOrderInput!) {{ cancelOrder(input: $input) {_RESULT} }}",
     _cancel_variables, expect(UNAUTHENTICATED, OK, NOT_FOUND, OK, FORBIDDEN)),
    ("shipOrder", f"mutation($input: ShipOrderInput!) {{ shipOrder(input: $input) {_RESULT} }}",
     _ship_variables, ADMIN_ONLY),
    ("eraseCustomer of someone else", ERASE_CUSTOMER, _erase_variables, ADMIN_ONLY),
]

_counter = iter(range(1_000_000))


def _unique() -> int:
    return next(_counter)


def _outcome(body: dict[str, Any], world: World) -> str:
    if body.get("errors"):
        code: str = body["errors"][0]["extensions"]["code"]
        return code
    [value] = body["data"].values()
    if value is None:
        return NULL
    if isinstance(value, dict) and value.get("__typename") == NOT_FOUND:
        return NOT_FOUND
    if isinstance(value, dict) and "edges" in value:
        ids = {edge["node"]["id"] for edge in value["edges"]}
        owners = {frozenset(): "none", frozenset({world.customer_a}): "only A", frozenset({world.order_a}): "only A",
                  frozenset({world.customer_b}): "only B", frozenset({world.order_b}): "only B"}
        return owners.get(frozenset(ids), "A and B" if {world.customer_a, world.customer_b} <= ids
                          or {world.order_a, world.order_b} <= ids else f"unexpected {ids}")
    return OK


@pytest.mark.parametrize(("name", "document", "variables", "expected"), QUERIES + MUTATIONS,
                         ids=[case[0] for case in QUERIES + MUTATIONS])
async def test_queries_and_mutations(secured: Secured, world: World, name: str, document: str,
                                     variables: Variables, expected: dict[str, str]) -> None:
    outcomes = {}
    for caller in CALLERS:
        body = await secured.call(world.authorization(caller), document, await variables(world))
        outcomes[caller] = _outcome(body, world)
    assert outcomes == expected


SUBSCRIPTIONS: list[tuple[str, str, Callable[[World], dict[str, Any]], dict[str, str]]] = [
    ("productChanged", "subscription { productChanged { productId } }", lambda w: {},
     {**EVERYONE, "expired": REJECTED, "bad signature": REJECTED}),
    ("orderChanged of A", "subscription($c: ID) { orderChanged(customerId: $c) { orderId } }",
     lambda w: {"c": w.customer_a},
     {**expect(UNAUTHENTICATED, OK, FORBIDDEN, OK, FORBIDDEN), "expired": REJECTED, "bad signature": REJECTED}),
    ("orderChanged by id of B", "subscription($id: ID) { orderChanged(id: $id) { orderId } }",
     lambda w: {"id": w.order_b},
     {**expect(UNAUTHENTICATED, FORBIDDEN, OK, OK, FORBIDDEN), "expired": REJECTED, "bad signature": REJECTED}),
    ("orderChanged of everyone", "subscription { orderChanged { orderId } }", lambda w: {},
     {**expect(UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN), "expired": REJECTED,
      "bad signature": REJECTED}),
]


async def _subscribe(url: str, authorization: str | None, query: str, variables: dict[str, Any]) -> str:
    """OK once the subscription is live (no error within a moment); else how it was refused."""
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        payload = {"authorization": authorization} if authorization else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
            return REJECTED
        assert ack["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": query, "variables": variables}}))
        try:
            message = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
        except TimeoutError:
            return OK
        errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors", [])
        if not errors:  # a notification already: the subscription is live
            return OK
        code: str = errors[0]["extensions"]["code"]
        return code


@pytest.mark.parametrize(("name", "document", "variables", "expected"), SUBSCRIPTIONS,
                         ids=[case[0] for case in SUBSCRIPTIONS])
async def test_subscriptions(secured: Secured, world: World, name: str, document: str,
                             variables: Callable[[World], dict[str, Any]], expected: dict[str, str]) -> None:
    url = secured.url.replace("http://", "ws://") + "/graphql"
    outcomes = {caller: await _subscribe(url, world.authorization(caller), document, variables(world))
                for caller in CALLERS}
    assert outcomes == expected


async def test_a_websocket_is_closed_when_its_token_expires(secured: Secured, world: World) -> None:
    url = secured.url.replace("http://", "ws://") + "/graphql"
    short_lived = f"Bearer {token(world.customer_a, ['customer'], expires_in_s=2)}"
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": short_lived}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "token expired")
