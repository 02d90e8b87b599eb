"""Subscriptions over plain HTTP, for clients without a WebSocket: Apollo Client's multipart
protocol (a Node.js client from tests/node) and GraphQL over SSE, with auth and clean-up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import adjust_stock, create_product
from tests.e2e.test_subscriptions import ORDER_CHANGED, PRODUCT_CHANGED
from tests.support import SECRET, Api, running_server, token, until_subscriptions_open

APOLLO_CLIENT = Path(__file__).resolve().parents[1] / "node" / "subscribe_multipart.mjs"
MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
SSE = "text/event-stream"


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Api, Container]]:
    async with running_server(settings) as (url, app), httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield Api(client), app.state.container



async def test_apollo_client_gets_three_notifications_over_multipart_http(
    served: tuple[Api, Container],
) -> None:
    api, container = served
    product = await create_product(api, "MULTIPART-1")
    variables = {"id": product["id"], "after": product["position"]}
    client = await asyncio.create_subprocess_exec(
        "node", str(APOLLO_CLIENT), f"{api.http.base_url}/graphql", PRODUCT_CHANGED, json.dumps(variables), "3",
        "30000", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdout is not None
    await until_subscriptions_open(container, 1)
    adjusted, notifications = [], []
    for delta in (1, 2, 3):  # one at a time, so that each notification has its own document
        adjusted.append(await adjust_stock(api, product["id"], delta))
        line = await asyncio.wait_for(client.stdout.readline(), 30)
        notifications.append(json.loads(line)["data"]["productChanged"])
    _stdout, stderr = await asyncio.wait_for(client.communicate(), 30)
    assert client.returncode == 0, stderr.decode()
    assert [(change["event"], change["position"], change["product"]["stock"]) for change in notifications] == [
        ("StockAdjusted", accepted["position"], stock) for accepted, stock in zip(adjusted, (6, 8, 11), strict=True)]
    # Unsubscribing aborted the request: the server-side subscription is gone with it.
    await until_subscriptions_open(container, 0)


async def _parts(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON parts of a multipart/mixed stream (boundary `graphql`), heartbeats included."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        *complete, buffer = buffer.split("\r\n--graphql")
        for part in complete:
            _headers, _, body = part.partition("\r\n\r\n")
            if body.strip():
                yield json.loads(body)


async def _first_payload(response: httpx.Response) -> dict[str, Any]:
    async for part in _parts(response):
        if part:
            payload: dict[str, Any] = part["payload"]
            return payload
    raise AssertionError("the stream ended without a payload")


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_client_that_disconnects_ends_its_subscription(served: tuple[Api, Container], method: str) -> None:
    api, container = served
    request = {"json": {"query": PRODUCT_CHANGED}} if method == "POST" else {"params": {"query": PRODUCT_CHANGED}}
    async with (httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as client,
                client.stream(method, "/graphql", headers={"accept": MULTIPART}, **request) as response):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/mixed;boundary=graphql")
        parts = _parts(response)  # kept: dropping it would close the response, which is the point below
        assert await anext(parts) == {}  # the first heartbeat
        await until_subscriptions_open(container, 1)
    await until_subscriptions_open(container, 0)


async def test_graphql_over_sse_streams_notifications(served: tuple[Api, Container]) -> None:
    api, container = served
    product = await create_product(api, "SSE-1")
    subscription = {"query": PRODUCT_CHANGED, "variables": {"id": product["id"], "after": product["position"]}}
    async with (httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as client,
                client.stream("POST", "/graphql", json=subscription, headers={"accept": SSE}) as events):
        assert events.headers["content-type"].startswith(SSE)
        await until_subscriptions_open(container, 1)
        adjusted = await adjust_stock(api, product["id"], -2)
        async for line in events.aiter_lines():
            if line.startswith("data: "):
                change = json.loads(line.removeprefix("data: "))["data"]["productChanged"]
                break
    assert (change["event"], change["position"], change["product"]["stock"]) == (
        "StockAdjusted", adjusted["position"], 3)
    await until_subscriptions_open(container, 0)


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with_auth = settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    async with running_server(with_auth) as (url, _app), httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


# The authorization is made when the test runs: a token minted at collection would have expired
# by the time a long suite reaches it.
@pytest.mark.parametrize(("authorization", "query", "variables", "code"), [
    (lambda: "Bearer not-a-token", PRODUCT_CHANGED, {}, "UNAUTHENTICATED"),
    (lambda: None, ORDER_CHANGED, {}, "UNAUTHENTICATED"),
    (lambda: f"Bearer {token('c-1', ['customer'])}", ORDER_CHANGED, {"customerId": "c-2"}, "FORBIDDEN"),
], ids=["bad token", "anonymous", "another customer's orders"])
async def test_http_subscriptions_follow_the_auth_rules_of_websockets(
    secured: httpx.AsyncClient, authorization: Callable[[], str | None], query: str, variables: dict[str, Any],
    code: str,
) -> None:
    headers = {"accept": MULTIPART} | ({"authorization": bearer} if (bearer := authorization()) else {})
    async with secured.stream("POST", "/graphql", json={"query": query, "variables": variables},
                              headers=headers) as response:
        payload = await _first_payload(response)
    assert payload["data"] is None
    assert [error["extensions"]["code"] for error in payload["errors"]] == [code]
