"""The legacy `graphql-ws` protocol's connection_init timeout, with a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from server.settings import Settings
from tests.e2e.operations import CREATE_PRODUCT
from tests.support import Api, running_server

TIMEOUT_S = 0.5
WATCH = "subscription Watch($after: String) { productChanged(after: $after) { event productId } }"


async def _receive(connection: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 10))
    return message


async def test_a_legacy_connection_that_never_initialises_is_told_why_and_closed(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"connection_init_timeout_s": TIMEOUT_S})) as (url, _app):
        connection = await websockets.connect(url.replace("http://", "ws://") + "/graphql",
                                              subprotocols=[Subprotocol("graphql-ws")])
        assert await _receive(connection) == {"type": "connection_error",
                                              "payload": {"message": "Connection initialisation timeout"}}
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(connection)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4408, "Connection initialisation timeout")


async def test_a_legacy_connection_that_initialises_in_time_outlives_the_timeout(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"connection_init_timeout_s": TIMEOUT_S})) as (url, _app), \
            httpx.AsyncClient(base_url=url, timeout=30) as http:
        created = (await Api(http)(CREATE_PRODUCT, {"input": {"sku": "LEGACY-INIT", "name": "On time", "category": "c",
                                                              "price": "1", "initialStock": 1}}))["createProduct"]
        connection = await websockets.connect(url.replace("http://", "ws://") + "/graphql",
                                              subprotocols=[Subprotocol("graphql-ws")])
        try:
            await connection.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert (await _receive(connection))["type"] == "connection_ack"
            await asyncio.sleep(TIMEOUT_S * 3)  # what is tested is that nothing happens when the timeout passes
            await connection.send(json.dumps({"id": "1", "type": "start",
                                              "payload": {"query": WATCH, "variables": {"after": "0"}}}))
            message = await _receive(connection)
        finally:
            await connection.close()
    assert message == {"type": "data", "id": "1",
                       "payload": {"data": {"productChanged": {"event": "ProductCreated", "productId": created["id"]}}}}
