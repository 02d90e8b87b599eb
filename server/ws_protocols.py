"""strawberry's handlers of both WebSocket protocols, with two additions:

- each operation's document goes through the view's PersistedDocuments before strawberry
  parses it; a refused one gets an `error` message on its own id, the connection stays open;
- the legacy `graphql-ws` protocol gets the `connection_init` timeout strawberry applies only
  to `graphql-transport-ws`. Its reference server (subscriptions-transport-ws) ends a
  connection it will not serve by sending `connection_error` and closing the socket; we do the
  same, closing with 4408 as graphql-transport-ws does, so one code means one cause."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Protocol, cast

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage, StartMessage

from schema.context import Context
from schema.errors import CodedError
from server.persisted_documents import DocumentRequest, PersistedDocuments, admin_check

INIT_TIMEOUT_CODE = 4408
INIT_TIMEOUT_REASON = "Connection initialisation timeout"


class _HasDocuments(Protocol):
    documents: PersistedDocuments


async def _document(view: object, context: Context, payload: Mapping[str, object]) -> str | None:
    documents = cast(_HasDocuments, view).documents
    return await documents.resolve(DocumentRequest.from_payload(payload), admin_check(context))


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message["payload"]
        # Otherwise strawberry closes the connection as the protocol requires; leave that to it.
        if self.connection_acknowledged and message["id"] not in self.operations and isinstance(payload, Mapping):
            try:
                document = await _document(self.view, self.context, payload)
            except CodedError as error:
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
            if document is not None:
                payload["query"] = document
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    connection_init_received = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if self.connection_init_received:
            return
        with contextlib.suppress(WebSocketDisconnected, RuntimeError):  # the client left already
            await self.send_message({"type": "connection_error", "payload": {"message": INIT_TIMEOUT_REASON}})
            await self.websocket.close(INIT_TIMEOUT_CODE, INIT_TIMEOUT_REASON)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self.connection_init_received = True
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        payload = message["payload"]
        if self.connection_acknowledged and isinstance(payload, Mapping):
            try:
                document = await _document(self.view, self.context, payload)
            except CodedError as error:
                await self.send_message({"type": "error", "id": message["id"], "payload": error.formatted})
                return
            if document is not None:
                payload["query"] = document
        await super().handle_start(message)
