"""GraphQL over HTTP (aiohttp, the lightest client at hand, so the load generator costs little) and
subscriptions over graphql-transport-ws (the `websockets` client)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

PRODUCT_FIELDS = ("id sku name description category tags price { amount currency } stock inStock status version "
                  "createdAt updatedAt")

CREATE_PRODUCT = """
mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) { __typename ... on ProductAccepted { id position } }
}"""

ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) {
  adjustStock(input: $input) { __typename ... on ProductAccepted { id position } }
}"""

REGISTER_CUSTOMER = """
mutation Register($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { __typename ... on CustomerAccepted { id position } }
}"""

PLACE_ORDER = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename ... on OrderAccepted { id position } ... on InsufficientStockError { productId }
  }
}"""

SEARCH_PRODUCTS = f"""
query Search($search: String, $first: Int) {{
  products(search: $search, first: $first) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    facets {{ category {{ value count }} tags {{ value count }} }}
    edges {{ cursor node {{ {PRODUCT_FIELDS} }} }}
  }}
}}"""

PAGE_PRODUCTS = f"""
query Page($first: Int) {{
  products(first: $first) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {PRODUCT_FIELDS} }} }}
  }}
}}"""

PRODUCT_CHANGED = f"""
subscription Watch($id: ID) {{
  productChanged(id: $id) {{ productId event position product {{ {PRODUCT_FIELDS} }} }}
}}"""

GRAPHQL_WS = Subprotocol("graphql-transport-ws")


class GraphQLError(Exception):
    """The server answered with top-level errors: a bug in the benchmark or in the server."""


class GraphQL:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self._url = url

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.session.post(self._url, json={"query": query, "variables": variables or {}}) as response:
            body: dict[str, Any] = await response.json()
        if "errors" in body:
            raise GraphQLError(body["errors"])
        data: dict[str, Any] = body["data"]
        return data


@asynccontextmanager
async def graphql_client(url: str, connections: int = 16) -> AsyncIterator[GraphQL]:
    # Idle connections are let go before uvicorn's keep-alive timeout (5 s) can close one under a request.
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=4.0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield GraphQL(session, url)


async def open_subscription(url: str, query: str, variables: dict[str, Any] | None = None) -> ClientConnection:
    """A graphql-transport-ws connection, acknowledged, with one subscription (id "1") sent."""
    connection = await connect(url, subprotocols=[GRAPHQL_WS], ping_interval=None, max_size=None, open_timeout=30)
    await connection.send(json.dumps({"type": "connection_init", "payload": {}}))
    ack = json.loads(await asyncio.wait_for(connection.recv(), 30))
    if ack.get("type") != "connection_ack":
        raise GraphQLError(f"expected connection_ack, got {ack}")
    await connection.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": query, "variables": variables or {}}}))
    return connection


class Listener:
    """Reads one connection until it closes, noting when each message arrived (perf_counter)."""

    def __init__(self, connection: ClientConnection, on_message: Callable[[], None] = lambda: None) -> None:
        self.connection = connection
        self.arrivals: list[tuple[float, str]] = []
        self._on_message = on_message
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                self.arrivals.append((time.perf_counter(), str(message)))
                self._on_message()
        except ConnectionClosed:
            pass  # the server went away; the benchmark notices the missing messages

    async def close(self) -> None:
        await self.connection.close()
        await self._task
