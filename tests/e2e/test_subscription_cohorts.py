"""Cohort fan-out: subscribers with the same document, variables and authorization scope share
each rendered notification, whatever their protocol; principals of different scopes never do,
and each subscriber gets only what it may see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from pydantic import SecretStr
from websockets.typing import Subprotocol

from server.settings import Settings
from tests.e2e.operations import CREATE_PRODUCT, PLACE_ORDER, REGISTER_CUSTOMER
from tests.support import SECRET, Api, running_server, token, until_subscriptions_open

WATCH_ORDERS = """
subscription WatchOrders($customerId: ID) {
  orderChanged(customerId: $customerId) { orderId event order { customerId status } }
}
"""
TRANSPORT_WS, LEGACY_WS = "graphql-transport-ws", "graphql-ws"
ORDERS_EACH = 2


@dataclass
class Subscriber:
    """One subscription on a connection of its own; `seen` are the order ids it was sent."""

    operation_id: str
    customer: str | None  # whose orders it watches; None: everyone's
    seen: list[str] = field(default_factory=list)


async def _receive(connection: Any, subscriber: Subscriber) -> None:
    message = json.loads(await asyncio.wait_for(connection.recv(), 30))
    assert (message["type"], message["id"]) in {("next", subscriber.operation_id), ("data", subscriber.operation_id)}
    change = message["payload"]["data"]["orderChanged"]
    assert subscriber.customer in (None, change["order"]["customerId"]), change  # nobody else's order
    subscriber.seen.append(change["orderId"])


@asynccontextmanager
async def _websocket(url: str, protocol: str, authorization: str | None, subscriber: Subscriber,
                     variables: dict[str, Any]) -> AsyncIterator[Any]:
    async with websockets.connect(url, subprotocols=[Subprotocol(protocol)]) as connection:
        init = {"authorization": authorization} if authorization else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await connection.recv())["type"] == "connection_ack"
        await connection.send(json.dumps({"id": subscriber.operation_id,
                                          "type": "subscribe" if protocol == TRANSPORT_WS else "start",
                                          "payload": {"query": WATCH_ORDERS, "variables": variables}}))
        yield connection


async def _refusal(url: str, authorization: str | None, variables: dict[str, Any]) -> str:
    async with _websocket(url, TRANSPORT_WS, authorization, Subscriber("refused", None), variables) as connection:
        message = json.loads(await asyncio.wait_for(connection.recv(), 30))
    assert message["type"] == "next", message
    code: str = message["payload"]["errors"][0]["extensions"]["code"]
    return code


async def _metrics(http: httpx.AsyncClient) -> dict[str, float]:
    samples = [line.partition(" ") for line in (await http.get("/metrics")).text.splitlines() if line[:1] != "#"]
    return {name: float(value) for name, _, value in samples}


async def test_a_hundred_subscribers_share_notifications_by_scope_and_see_only_their_own(settings: Settings) -> None:
    secured = settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    async with (running_server(secured) as (url, app),
                httpx.AsyncClient(base_url=url, timeout=30) as http, AsyncExitStack() as connections):
        admin = Api(httpx.AsyncClient(base_url=url, timeout=30,
                                      headers={"authorization": f"Bearer {token('root', ['admin'])}"}))
        product = (await admin(CREATE_PRODUCT, {"input": {"sku": "COHORT-1", "name": "Mug", "category": "c",
                                                          "price": "3", "initialStock": 100}}))["createProduct"]["id"]
        customers = [(await admin(REGISTER_CUSTOMER, {"input": {"email": f"{name}@cohort.test", "name": name}}))[
            "registerCustomer"]["id"] for name in ("a", "b", "c")]
        ws_url = url.replace("http://", "ws://") + "/graphql"

        def bearer(subject: str, role: str) -> str:
            return f"Bearer {token(subject, [role])}"

        # Each customer: 25 subscribers of their own orders, over both protocols (tokens of one
        # subject differ only in expiry). Admins "root" and "ops": 15 watch everyone's orders, and
        # 10 customer a's with the very variables of a's own subscribers, in a scope of their own.
        plan: list[tuple[str, str, dict[str, Any], str | None]] = []
        for customer in customers:
            plan += [(bearer(customer, "customer"), TRANSPORT_WS if n % 2 else LEGACY_WS,
                      {"customerId": customer}, customer) for n in range(25)]
        plan += [(bearer(("root", "ops")[n % 2], "admin"), TRANSPORT_WS, {}, None) for n in range(15)]
        plan += [(bearer("ops", "admin"), LEGACY_WS, {"customerId": customers[0]}, customers[0]) for _ in range(10)]
        subscribers = []
        for n, (authorization, protocol, variables, customer) in enumerate(plan):
            subscriber = Subscriber(f"watch-{n}", customer)
            connection = await connections.enter_async_context(
                _websocket(ws_url, protocol, authorization, subscriber, variables))
            subscribers.append((connection, subscriber))
        await until_subscriptions_open(app.state.container, 100)
        # Where the document is not allowed, no cohort: anonymous callers, and customers asking for another's.
        assert await _refusal(ws_url, None, {"customerId": customers[0]}) == "UNAUTHENTICATED"
        assert await _refusal(ws_url, bearer(customers[1], "customer"), {"customerId": customers[0]}) == "FORBIDDEN"
        before = await _metrics(http)
        assert (before["storefront_subscriptions_open"], before["storefront_subscription_cohorts"]) == (100, 5)

        placed: dict[str, list[str]] = {customer: [] for customer in customers}
        for _ in range(ORDERS_EACH):  # in turn, so that a leak would show as another's order in between
            for customer in customers:
                order = await admin(PLACE_ORDER, {"input": {"customerId": customer,
                                                            "lines": [{"productId": product, "quantity": 1}]}})
                placed[customer].append(order["placeOrder"]["id"])
        everyone = [order for turn in zip(*placed.values(), strict=True) for order in turn]
        for connection, subscriber in subscribers:
            expected = everyone if subscriber.customer is None else placed[subscriber.customer]
            for _ in expected:
                await _receive(connection, subscriber)
            assert subscriber.seen == expected
        after = await _metrics(http)
        await admin.http.aclose()
    # One rendering per order and cohort concerned (the customer's own, the admins' of everyone's,
    # and for a's orders the admins' of a's), not one per subscriber: 6 orders sent 220 times.
    renders = after["storefront_subscription_renders_total"] - before["storefront_subscription_renders_total"]
    assert renders == ORDERS_EACH * (3 + 2 + 2)
