"""Subscriptions over real WebSockets, with a Node.js graphql-ws client and Python's gql."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import Api
from tests.e2e.operations import ADJUST_STOCK, CREATE_PRODUCT, PRODUCT

NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "subscribe.mjs"

PRODUCT_CHANGED = """
subscription Watch($id: ID, $after: String) {
  productChanged(id: $id, after: $after) { productId event position product { id name stock version } }
}
"""


def _ws_url(api: Api) -> str:
    return str(api.http.base_url).replace("http://", "ws://").rstrip("/") + "/graphql"


async def _create(api: Api, sku: str, stock: int = 5) -> dict[str, Any]:
    variables = {"input": {"sku": sku, "name": f"Item {sku}", "category": "c", "price": "2.50", "initialStock": stock}}
    result: dict[str, Any] = (await api(CREATE_PRODUCT, variables))["createProduct"]
    return result


async def _adjust(api: Api, product_id: str, delta: int) -> dict[str, Any]:
    result: dict[str, Any] = (await api(ADJUST_STOCK, {"input": {"productId": product_id, "delta": delta}}))[
        "adjustStock"]
    return result


async def test_a_node_graphql_ws_client_receives_the_indexed_document(api: Api) -> None:
    client = await asyncio.create_subprocess_exec(
        "node", str(NODE_CLIENT), _ws_url(api), PRODUCT_CHANGED, "1", "30000",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdout is not None
    assert json.loads(await asyncio.wait_for(client.stdout.readline(), 30)) == {"connected": True}
    await asyncio.sleep(0.3)  # the subscribe message follows the connection ack
    created = await _create(api, "NODE-1")
    stdout, stderr = await asyncio.wait_for(client.communicate(), 30)
    assert client.returncode == 0, stderr.decode()
    [notification] = [json.loads(line)["data"]["productChanged"] for line in stdout.decode().splitlines()]
    assert notification == {
        "productId": created["id"], "event": "ProductCreated", "position": created["position"],
        "product": {"id": created["id"], "name": "Item NODE-1", "stock": 5, "version": 1},
    }


async def test_the_legacy_protocol_with_the_gql_client(api: Api) -> None:
    product = await _create(api, "LEGACY-1")
    transport = WebsocketsTransport(url=_ws_url(api))  # Apollo's legacy graphql-ws protocol
    async with Client(transport=transport) as session:
        variables = {"id": product["id"], "after": product["position"]}
        stream = session.subscribe(GraphQLRequest(PRODUCT_CHANGED, variable_values=variables))
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)
        adjusted = await _adjust(api, product["id"], 3)
        change = (await asyncio.wait_for(first, 30))["productChanged"]
        await stream.aclose()
    assert transport.subprotocol == "graphql-ws"
    assert (change["event"], change["position"], change["product"]["stock"]) == (
        "StockAdjusted", adjusted["position"], 8)
