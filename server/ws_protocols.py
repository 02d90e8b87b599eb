"""strawberry's handlers of both WebSocket protocols, with three additions:

- each operation's document goes through the view's PersistedDocuments before strawberry
  parses it; a refused one gets an `error` message on its own id, the connection stays open;
- each operation's task is given a sender of notifications: a subscription sends the payload
  its cohort rendered (schema/notifications.py) in the protocol's data frame, with this
  operation's id spliced in, rather than have strawberry execute and encode it once more;
- the legacy `graphql-ws` protocol gets the `connection_init` timeout strawberry applies only
  to `graphql-transport-ws`. Its reference server (subscriptions-transport-ws) ends a
  connection it will not serve by sending `connection_error` and closing the socket; we do the
  same, closing with 4408 as graphql-transport-ws does, so one code means one cause."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Protocol, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage as TransportInitMessage
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage, StartMessage

from schema.context import Context
from schema.errors import CodedError
from schema.notifications import notification_sender
from server.persisted_documents import DocumentRequest, PersistedDocuments, admin_check

INIT_TIMEOUT_CODE = 4408
INIT_TIMEOUT_REASON = "Connection initialisation timeout"


class _HasDocuments(Protocol):
    documents: PersistedDocuments


async def _document(view: object, context: Context, payload: Mapping[str, object]) -> str | None:
    documents = cast(_HasDocuments, view).documents
    return await documents.resolve(DocumentRequest.from_payload(payload), admin_check(context))


@contextlib.contextmanager
def _sending(websocket: AsyncWebSocketAdapter, frame_start: str) -> Iterator[None]:
    """Within: the operation task strawberry starts inherits a sender of notifications that
    wraps each payload as `frame_start` + payload + `}`."""
    socket = cast(ASGIWebSocketAdapter, websocket).ws

    async def send(payload: str) -> None:
        try:
            await socket.send_text(f"{frame_start}{payload}}}")
        except WebSocketDisconnect as error:  # as strawberry's own sends report it
            raise WebSocketDisconnected from error

    token = notification_sender.set(send)
    try:
        yield
    finally:
        notification_sender.reset(token)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_connection_init(self, message: TransportInitMessage) -> None:
        await super().handle_connection_init(message)
        # strawberry cancels the timeout here but keeps its task, and with it the traceback of the
        # cancellation, for the connection's whole life: about 1.5 KB of each idle subscriber.
        self.connection_init_timeout_task = None

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
        with _sending(self.websocket, f'{{"id":{json.dumps(message["id"])},"type":"next","payload":'):
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
        with _sending(self.websocket, f'{{"type":"data","id":{json.dumps(message["id"])},"payload":'):
            await super().handle_start(message)
