"""Subscriptions over real WebSockets, with a Node.js graphql-ws client and Python's gql."""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
import socket
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from server.settings import Settings
from tests.e2e.operations import (
    PLACE_ORDER,
    PRODUCT,
    REGISTER_CUSTOMER,
    UPDATE_PRODUCT,
    adjust_stock,
    create_product,
)
from tests.support import Api, LiveServer, drain, running_server, until_subscriptions_open, wait_until

NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "subscribe.mjs"

PRODUCT_CHANGED = """
subscription Watch($id: ID, $after: String) {
  productChanged(id: $id, after: $after) { productId event position product { id name stock version description } }
}
"""


ORDER_CHANGED = """
subscription WatchOrders($id: ID, $customerId: ID) {
  orderChanged(id: $id, customerId: $customerId) { orderId event position order { id customerId status } }
}
"""


def _ws_url(api: Api) -> str:
    return str(api.http.base_url).replace("http://", "ws://").rstrip("/") + "/graphql"


async def test_a_node_graphql_ws_client_receives_the_indexed_document(api: Api, live_server: LiveServer) -> None:
    client = await asyncio.create_subprocess_exec(
        "node", str(NODE_CLIENT), _ws_url(api), PRODUCT_CHANGED, "1", "30000",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdout is not None
    assert json.loads(await asyncio.wait_for(client.stdout.readline(), 30)) == {"connected": True}
    await until_subscriptions_open(live_server.container, 1)  # the subscribe message follows the connection ack
    created = await create_product(api, "NODE-1")
    stdout, stderr = await asyncio.wait_for(client.communicate(), 30)
    assert client.returncode == 0, stderr.decode()
    [notification] = [json.loads(line)["data"]["productChanged"] for line in stdout.decode().splitlines()]
    assert notification == {
        "productId": created["id"], "event": "ProductCreated", "position": created["position"],
        "product": {"id": created["id"], "name": "Item NODE-1", "stock": 5, "version": 1, "description": ""},
    }


async def test_the_legacy_protocol_with_the_gql_client(api: Api, live_server: LiveServer) -> None:
    product = await create_product(api, "LEGACY-1")
    transport = WebsocketsTransport(url=_ws_url(api))  # Apollo's legacy graphql-ws protocol
    async with Client(transport=transport) as session:
        variables = {"id": product["id"], "after": product["position"]}
        stream = session.subscribe(GraphQLRequest(PRODUCT_CHANGED, variable_values=variables))
        first = asyncio.ensure_future(anext(stream))
        await until_subscriptions_open(live_server.container, 1)
        adjusted = await adjust_stock(api, product["id"], 3)
        change = (await asyncio.wait_for(first, 30))["productChanged"]
        await stream.aclose()
    assert transport.subprotocol == "graphql-ws"
    assert (change["event"], change["position"], change["product"]["stock"]) == (
        "StockAdjusted", adjusted["position"], 8)


class RawSocket:
    """A graphql-transport-ws connection spoken by hand, to control reading and closing."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, url: str, init: bool = True) -> RawSocket:
        connection = await websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")])
        socket = cls(connection)
        if init:
            await socket.send({"type": "connection_init", "payload": {}})
            assert (await socket.receive())["type"] == "connection_ack"
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout_s: float = 30) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), timeout_s))
        return message

    async def subscribe(self, operation_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send({"id": operation_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})

    async def close(self) -> None:
        await self.connection.close()


async def test_after_each_notification_a_consistent_read_is_at_least_as_new(api: Api) -> None:
    product = await create_product(api, "FRESH-1", stock=0)
    socket = await RawSocket.open(_ws_url(api))
    await socket.subscribe("1", PRODUCT_CHANGED, {"id": product["id"], "after": product["position"]})
    try:
        for n in range(1, 201):
            await adjust_stock(api, product["id"], 1)
            message = await socket.receive()
            change = message["payload"]["data"]["productChanged"]
            read = (await api(PRODUCT, {"id": product["id"], "consistentWith": change["position"]}))["product"]
            assert read["version"] >= change["product"]["version"] >= n
            assert read["stock"] >= change["product"]["stock"]
    finally:
        await socket.close()


async def test_a_subscriber_resumes_from_its_last_position(api: Api) -> None:
    product = await create_product(api, "RESUME-1", stock=0)
    socket = await RawSocket.open(_ws_url(api))
    await socket.subscribe("1", PRODUCT_CHANGED, {"id": product["id"], "after": product["position"]})
    await adjust_stock(api, product["id"], 1)
    last_seen = (await socket.receive())["payload"]["data"]["productChanged"]["position"]
    await socket.close()

    missed = [(await adjust_stock(api, product["id"], 1))["position"] for _ in range(10)]

    socket = await RawSocket.open(_ws_url(api))
    try:
        await socket.subscribe("1", PRODUCT_CHANGED, {"id": product["id"], "after": last_seen})
        received = [(await socket.receive())["payload"]["data"]["productChanged"] for _ in range(10)]
    finally:
        await socket.close()
    assert [change["position"] for change in received] == missed
    assert [change["event"] for change in received] == ["StockAdjusted"] * 10


async def test_the_first_subscriber_after_a_quiet_spell_starts_at_the_present(
        api: Api, live_server: LiveServer) -> None:
    """With nobody subscribed the feed reads nothing; the next subscriber is sent what changes from
    then on, not what changed while nobody watched."""
    await until_subscriptions_open(live_server.container, 0)
    unwatched = await create_product(api, "QUIET-1")
    await api(PRODUCT, {"id": unwatched["id"], "consistentWith": unwatched["position"]})
    socket = await RawSocket.open(_ws_url(api))
    try:
        await socket.subscribe("1", PRODUCT_CHANGED, {})
        await until_subscriptions_open(live_server.container, 1)
        watched = await create_product(api, "QUIET-2")
        change = (await socket.receive())["payload"]["data"]["productChanged"]
    finally:
        await socket.close()
    assert (change["productId"], change["position"]) == (watched["id"], watched["position"])


async def test_an_order_subscription_filters_by_customer(api: Api, live_server: LiveServer) -> None:
    product = await create_product(api, "ORD-SUB", stock=10)
    customers = [
        (await api(REGISTER_CUSTOMER, {"input": {"email": f"{name}@sub.test", "name": name}}))["registerCustomer"]["id"]
        for name in ("watched", "other")
    ]
    socket = await RawSocket.open(_ws_url(api))
    try:
        await socket.subscribe("1", ORDER_CHANGED, {"customerId": customers[0]})
        await until_subscriptions_open(live_server.container, 1)
        for customer_id in (customers[1], customers[0]):
            placed = (await api(PLACE_ORDER, {"input": {"customerId": customer_id,
                                                        "lines": [{"productId": product["id"], "quantity": 1}]}}))
        change = (await socket.receive())["payload"]["data"]["orderChanged"]
    finally:
        await socket.close()
    assert (change["orderId"], change["event"], change["order"]["customerId"]) == (
        placed["placeOrder"]["id"], "OrderPlaced", customers[0])


async def _reluctant_socket(url: str) -> RawSocket:
    """A client that reads nothing: a tiny receive buffer and a one-message queue, so the
    server's writes back up after a few megabytes, as over a congested network."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])))
    connection = await websockets.connect(url, sock=raw, max_queue=1, ping_interval=None,
                                          subprotocols=[Subprotocol("graphql-transport-ws")])
    reluctant = RawSocket(connection)
    await reluctant.send({"type": "connection_init", "payload": {}})
    assert (await reluctant.receive())["type"] == "connection_ack"
    return reluctant


async def test_a_slow_subscriber_is_dropped_without_holding_up_others(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"subscription_buffer_size": 16})) as (url, app):
        feed = app.state.container.changes
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            api = Api(http)
            product = await create_product(api, "SLOW-1")
            slow, healthy = await _reluctant_socket(ws_url), await RawSocket.open(ws_url)
            try:
                for subscriber in (slow, healthy):
                    await subscriber.subscribe("1", PRODUCT_CHANGED, {"after": product["position"]})
                await until_subscriptions_open(app.state.container, 2)
                received = 0
                for n in range(1500):  # bounded; the drop comes after some 5-8 MB
                    # ~10 KB a notification, random so that permessage-deflate cannot shrink it:
                    # megabytes pile up in a few hundred.
                    bulky = secrets.token_urlsafe(7_000)
                    await api(UPDATE_PRODUCT, {"input": {"id": product["id"], "description": f"{n} {bulky}"}})
                    while received <= n:  # the healthy subscriber reads every change as it comes
                        change = (await healthy.receive())["payload"]["data"]["productChanged"]
                        received += 1
                    if feed.open_subscriptions == 1:
                        break
                assert feed.open_subscriptions == 1, "the reluctant subscriber was never dropped"
                assert change["product"]["version"] == received + 1
                await api(UPDATE_PRODUCT, {"input": {"id": product["id"], "description": "after the drop"}})
                after_drop = (await healthy.receive())["payload"]["data"]["productChanged"]
                assert after_drop["product"]["description"] == "after the drop"
                with pytest.raises(ConnectionClosed) as closed:
                    while True:  # the backlog comes first; the server ends the connection after it
                        await slow.receive()
                # A congested peer may never read the close frame before the server gives up and
                # drops the TCP connection; when it does read it, it says why.
                if closed.value.rcvd is not None:
                    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4460, "subscriber too slow")
            finally:
                await slow.close()
                await healthy.close()


async def test_subscriptions_per_connection_are_limited(api: Api, settings: Settings) -> None:
    socket = await RawSocket.open(_ws_url(api))
    try:
        for n in range(settings.max_subscriptions_per_connection):
            await socket.subscribe(str(n), PRODUCT_CHANGED)
        await socket.subscribe("one-too-many", PRODUCT_CHANGED)
        refused = await socket.receive()
    finally:
        await socket.close()
    assert (refused["id"], refused["type"]) == ("one-too-many", "error")
    assert refused["payload"][0]["message"] == "Subscription limit reached"


async def test_a_connection_that_never_initialises_is_closed(settings: Settings) -> None:
    impatient = settings.model_copy(update={"connection_init_timeout_s": 0.5})
    async with running_server(impatient) as (url, _app):
        socket = await RawSocket.open(url.replace("http://", "ws://") + "/graphql", init=False)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.receive(timeout_s=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_abrupt_disconnects_leave_no_subscription_task_or_memory_behind(settings: Settings) -> None:
    subscribers = 200  # the benchmark suite (B8) runs 1,000
    async with running_server(settings) as (url, app):
        baseline_tasks = len(asyncio.all_tasks())
        tracemalloc.start()
        try:
            gc.collect()
            baseline_bytes = tracemalloc.get_traced_memory()[0]
            ws_url = url.replace("http://", "ws://") + "/graphql"
            sockets = [await RawSocket.open(ws_url) for _ in range(subscribers)]
            for subscriber in sockets:
                await subscriber.subscribe("1", PRODUCT_CHANGED)
            await until_subscriptions_open(app.state.container, subscribers)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                await create_product(Api(http), "FANOUT-1")
            for subscriber in sockets:
                change = (await subscriber.receive())["payload"]["data"]["productChanged"]
                assert change["event"] == "ProductCreated"
            gc.collect()
            while_open = tracemalloc.get_traced_memory()[0] - baseline_bytes
            for subscriber in sockets:
                subscriber.connection.transport.abort()  # no close frame: the peer just vanishes
            await until_subscriptions_open(app.state.container, 0)
            await wait_until(lambda: len(asyncio.all_tasks()) <= baseline_tasks, 30,
                             lambda: f"{len(asyncio.all_tasks())} tasks, {baseline_tasks} at first")
            # One turn of the loop: the finished tasks' done-callbacks (where uvicorn lets go of
            # each connection's protocol object) are queued, not yet run.
            await asyncio.sleep(0)
            del sockets, subscriber
            gc.collect()
            left_behind = tracemalloc.get_traced_memory()[0] - baseline_bytes
        finally:
            tracemalloc.stop()
    assert left_behind < while_open / 4, f"{left_behind} of {while_open} bytes still held after disconnects"


async def test_each_notification_carries_the_state_of_its_own_event(settings: Settings) -> None:
    """Five quick adjustStock(+1) indexed in one batch: every notification shows the stock and version its own
    event produced, on both protocols and again when a subscriber resumes with `after`."""
    async with running_server(settings, run_worker=False) as (url, app), \
            httpx.AsyncClient(base_url=url, timeout=30) as http:
        container, api = app.state.container, Api(http)
        product = await create_product(api, "BURST-1", stock=10)
        await drain(container)
        ws_url = url.replace("http://", "ws://") + "/graphql"
        since_created = {"id": product["id"], "after": product["position"]}
        socket = await RawSocket.open(ws_url)
        await socket.subscribe("1", PRODUCT_CHANGED, since_created)
        async with Client(transport=WebsocketsTransport(url=ws_url)) as legacy:
            stream = legacy.subscribe(GraphQLRequest(PRODUCT_CHANGED, variable_values=since_created))
            first_legacy = asyncio.ensure_future(anext(stream))
            await until_subscriptions_open(container, 2)
            positions = [(await adjust_stock(api, product["id"], 1))["position"] for _ in range(5)]
            await drain(container)  # all five reach the read model, and the feed, in one batch
            expected = [(position, 10 + n, 1 + n) for n, position in enumerate(positions, start=1)]

            def seen(changes: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
                return [(c["position"], c["product"]["stock"], c["product"]["version"]) for c in changes]

            received = [(await socket.receive())["payload"]["data"]["productChanged"] for _ in positions]
            assert seen(received) == expected
            legacy_received = [(await asyncio.wait_for(first_legacy, 30))["productChanged"]]
            legacy_received += [(await asyncio.wait_for(anext(stream), 30))["productChanged"] for _ in positions[1:]]
            assert seen(legacy_received) == expected
            await stream.aclose()
        await socket.close()
        resumed = await RawSocket.open(ws_url)
        await resumed.subscribe("1", PRODUCT_CHANGED, since_created)
        replayed = [(await resumed.receive())["payload"]["data"]["productChanged"] for _ in positions]
        await resumed.close()
    assert seen(replayed) == expected


async def test_a_websocket_to_another_path_is_refused(api: Api) -> None:
    """Only /graphql takes WebSockets (server.http_guards.WebSocketsDirect); the rest meet the router."""
    elsewhere = _ws_url(api).removesuffix("/graphql") + "/healthz"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(elsewhere, subprotocols=[Subprotocol("graphql-transport-ws")])
    assert refused.value.response.status_code == 403
