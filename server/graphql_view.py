"""The GraphQL endpoint: HTTP and both WebSocket protocols, with its limits and auth hooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from schema.build import Protection, ServedSchema, build_schema
from schema.context import CloseConnection, Context
from schema.errors import CodedError, ServiceUnavailable
from schema.limits import Limits
from schema.principal import InvalidCredentials
from server.bootstrap import Container
from server.content_negotiation import json_media_type, stream_protocol
from server.graphiql import OfflineGraphiQL
from server.graphql_http import SUBSCRIPTION_PROTOCOLS, GraphQLOverHTTP, reads_json
from server.http_caching import cache_headers
from server.http_documents import names_a_document, resolved, with_document_id
from server.ws_protocols import LegacyWSHandler, TransportWSHandler


class GraphQLView(GraphQLOverHTTP):
    schema: ServedSchema
    # Both run each operation's document through `documents` first (server/ws_protocols.py).
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, container: Container) -> None:
        settings = container.settings
        protection = Protection(
            limits=Limits(max_depth=settings.max_query_depth, max_aliases=settings.max_query_aliases,
                          max_cost=settings.max_query_cost, max_page=settings.max_page_size),
            max_tokens=settings.max_query_tokens,
            introspection=settings.introspection,
        )
        super().__init__(
            build_schema(protection),
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_s),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            subscription_protocols=SUBSCRIPTION_PROTOCOLS,
        )
        self._container = container
        self._timeout_s = settings.operation_timeout_s
        self._get_max_age_s = settings.get_max_age_s
        self.documents = container.documents
        self.graphiql = OfflineGraphiQL(self.graphql_ide_html)

    async def answer_directly(self, request: Request) -> Response | None:
        """A POST of a document that parsed and passed validation before, answered the way `run`
        would, without its layers of hooks (0.8 ms less CPU a search, bench/README.md;
        tests/e2e/test_known_documents.py compares the two). Anything else, and any request
        whose document must be looked up or checked (trusted documents), takes `run`."""
        if request.method != "POST" or self.documents.trusted_only:
            return None
        accept = request.headers.get("accept")
        if (not reads_json(request.headers.get("content-type")) or json_media_type(accept) is None
                or stream_protocol(accept) is not None):
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None  # `run` answers it, with the standard library's reading
        operation = _plain_operation(body)
        if operation is None:
            return None
        query, variables, operation_name = operation
        document = self.schema.known_document(query, operation_name)
        if document is None:
            return None
        context = self._http_context(request)
        result = await self._bounded(self.schema.execute_known(document, variables, context, operation_name))
        sub_response = await self.get_sub_response(request)
        return self.create_response(await self.process_result(request, result), sub_response)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphiql.page)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if isinstance(request, WebSocket):
            return self._container.context(close_connection=_closer(request))
        return self._http_context(request)

    def _http_context(self, request: Request) -> Context:
        return self._container.context(authorization=request.headers.get("authorization"))

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Check the token in `connection_init`, and end the connection when it expires."""
        try:
            principal = await context.identify()
        except InvalidCredentials as error:
            raise ConnectionRejectionError({"message": str(error)}) from error
        if principal.expires_at is not None and context.close_connection is not None:
            _close_when_expired(context.close_connection, principal.expires_at)
        return None  # acknowledge without a payload

    def encode_json(self, data: object) -> str:
        return json_text(data)

    def decode_json(self, data: str | bytes) -> object:
        """Bytes that are not UTF-8, or JSON nested past Python's recursion limit, are the
        caller's error (400), not the server's."""
        try:
            return super().decode_json(data)
        except (UnicodeDecodeError, RecursionError) as error:
            raise json.JSONDecodeError(f"undecodable body: {error.__class__.__name__}", "", 0) from error

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        return super().should_render_graphql_ide(request) and not names_a_document(request.query_params)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        return data if isinstance(data, list) else await with_document_id(data, request, self.parse_json)

    async def execute_operation(
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context, root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """Runs the persisted or trusted document the request names, refused before parsing
        if it may not run (server/persisted_documents.py); GET answers get Cache-Control."""
        result: ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult
        try:
            # Batches never get here: batching is off and strawberry refuses them while parsing.
            if isinstance(request_data, GraphQLRequestData):
                request_data = await resolved(request_data, self.documents, context)
        except CodedError as error:
            result = ExecutionResult(data=None, errors=[error])
        else:
            result = await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                                     sub_response)
        if request_adapter.method == "GET" and isinstance(result, ExecutionResult):
            sub_response.headers.update(cache_headers(result, context.authorization, self._get_max_age_s))
        return result

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Bounds each HTTP operation; commands started inside still finish (CommandBus). Running
        out of time is the server's failing, not the document's, so it is SERVICE_UNAVAILABLE
        (try again later), never QUERY_TOO_COMPLEX (change the document)."""
        return await self._bounded(super().execute_single(*args, **kwargs))

    async def _bounded(self, execution: Awaitable[ExecutionResult]) -> ExecutionResult:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await execution
        except TimeoutError:
            message = f"The operation did not finish within {self._timeout_s:g}s; try again later."
            return ExecutionResult(data=None, errors=[ServiceUnavailable(message)])


def _plain_operation(body: object) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a request body `run` would take as they are:
    well typed, and without `extensions` (which may name a persisted document)."""
    if not isinstance(body, dict) or body.get("extensions") is not None:
        return None
    query, variables, operation_name = body.get("query"), body.get("variables"), body.get("operationName")
    if isinstance(query, str) and isinstance(variables, dict | None) and isinstance(operation_name, str | None):
        return query, variables, operation_name
    return None


_expiry_closes: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly


def _close_when_expired(close: CloseConnection, expires_at: datetime) -> None:
    delay_s = max((expires_at - datetime.now(UTC)).total_seconds(), 0)
    loop = asyncio.get_running_loop()
    # A timer holding the connection weakly: one that ends before its token does is freed then.
    connection_close = weakref.ref(close)

    def expire() -> None:
        if (close := connection_close()) is not None:
            task = loop.create_task(_close_quietly(close, 4401, "token expired"))
            _expiry_closes.add(task)
            task.add_done_callback(_expiry_closes.discard)

    loop.call_later(delay_s, expire)


async def _close_quietly(close: CloseConnection, code: int, reason: str) -> None:
    # The connection is gone already: starlette raises RuntimeError, or WebSocketDisconnect when
    # uvicorn's sans-I/O protocol finds the peer gone.
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await close(code, reason)


def _closer(websocket: WebSocket) -> CloseConnection:
    async def close(code: int, reason: str) -> None:
        await websocket.close(code, reason)

    return close


def json_text(data: object) -> str:
    """Answers and WebSocket messages as JSON text. orjson encodes a page of products in a small
    fraction of the standard library's time (bench/README.md, R1). Text, not bytes: strawberry
    sends bytes over a WebSocket as binary frames, which GraphQL clients refuse. orjson refuses
    what the standard library takes (integers past 64 bits, keys that are not strings, which a
    JSON scalar could carry); those take the standard library's path."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"))
