"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/) on strawberry's ASGI view.

- `application/graphql-response+json` when the client prefers it: a request error (the
  document does not parse or validate, or the variables do not coerce) answers 400 without
  `data`; clients that ask for `application/json`, `*/*` or nothing keep 200 with `errors`.
- Requests that are not GraphQL requests are refused before execution, with a GraphQL error
  body and a code for every Accept: 405 (with `Allow`) for other methods and for mutations
  over GET, 406 for an Accept this server cannot answer, 415 for a body that is not JSON in
  UTF-8, 400 for JSON that is not a request object or has parameters of the wrong type.
- Subscriptions stream over HTTP for clients without a WebSocket: Apollo's multipart
  protocol (`multipart/mixed;subscriptionSpec=1.0`) and GraphQL over SSE. Without such an
  Accept a subscription is a 400 saying how to subscribe, never an execution error. A
  notification goes out as its cohort rendered it (schema/notifications.py), not encoded again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import GraphQLError, get_operation_ast, parse
from graphql import OperationType as DocumentOperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.streaming import HTTPStreamTransport, JSONEncoder, MultipartSubscriptionTransport, SSETransport
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.graphql import OperationType

from schema.context import Context
from schema.errors import BAD_USER_INPUT
from schema.notifications import RenderedData
from server.content_negotiation import (
    GRAPHQL_RESPONSE_JSON,
    HEADERS_KEPT,
    JSON,
    json_media_type,
    stream_protocol,
    unreadable_body_reason,
)

# Strawberry serves only the protocols listed here; HTTP streams are off unless named.
SUBSCRIPTION_PROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL,
                          GRAPHQL_SSE_PROTOCOL)

HOW_TO_SUBSCRIBE = (
    "A subscription needs a stream: open a WebSocket to this URL (graphql-transport-ws or graphql-ws), or POST "
    "it with `Accept: multipart/mixed;subscriptionSpec=1.0` (Apollo Client's HttpLink) or "
    "`Accept: text/event-stream`."
)

_JSON_NAMES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _rendered(response: GraphQLHTTPResponse) -> str | None:
    """The payload a notification was rendered with, to send as it is (None: not a notification)."""
    data = response.get("data")
    return data.payload if isinstance(data, RenderedData) else None


class _MultipartTransport(MultipartSubscriptionTransport):
    """Apollo's multipart protocol; a query or mutation sent with its Accept gets one part,
    as over SSE, rather than a refusal."""

    def allowed_operation_types(self, allowed_operation_types: set[OperationType]) -> Iterable[OperationType]:
        return allowed_operation_types

    def encode_next(self, response: GraphQLHTTPResponse, encode_json: JSONEncoder) -> str:
        payload = _rendered(response)
        if payload is None:
            return super().encode_next(response, encode_json)
        return self.encode_multipart_data(response, lambda _response: f'{{"payload":{payload}}}')


class _SSETransport(SSETransport):
    def encode_next(self, response: GraphQLHTTPResponse, encode_json: JSONEncoder) -> str:
        payload = _rendered(response)
        return super().encode_next(response, encode_json) if payload is None else self.encode_event("next", payload)


class _RequestAdapter(StarletteRequestAdapter):
    @property
    def content_type(self) -> str | None:
        """Media type names are case-insensitive (RFC 9110); strawberry compares lower case."""
        value = super().content_type
        return None if value is None else _lower_media_type(value)


def _lower_media_type(value: str) -> str:
    name, separator, params = value.partition(";")
    return name.lower() + separator + params


class GraphQLOverHTTP(GraphQL[Context, None]):
    request_adapter_class = _RequestAdapter
    stream_transport_classes_by_protocol: Mapping[str, type[HTTPStreamTransport]] = {
        MULTIPART_SUBSCRIPTION_PROTOCOL: _MultipartTransport,
        GRAPHQL_SSE_PROTOCOL: _SSETransport,
    }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.answer_directly(request) or await self.run(request)
        except HTTPException as refusal:
            response = _refusal_response(refusal)
        await response(scope, receive, send)

    async def answer_directly(self, request: Request) -> Response | None:
        """An answer made without strawberry's view, or None to take the view (`run`)."""
        return None

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # Read back by create_response, which is not given the request.
        sub_response.media_type = json_media_type(request.headers.get("accept"))
        return sub_response

    def _get_stream_transport_from_headers(self, headers: Mapping[str, str]) -> HTTPStreamTransport | None:
        protocol = stream_protocol(headers.get("accept"))
        return None if protocol is None else self._get_stream_transport(protocol)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        accept = request.headers.get("accept")
        if json_media_type(accept) is None and stream_protocol(accept) is None:
            raise HTTPException(406, f"Cannot answer in any type of `Accept: {accept}`: accept {GRAPHQL_RESPONSE_JSON} "
                                     f"or {JSON}.")
        if request.method == "POST" and (reason := unreadable_body_reason(request.content_type)) is not None:
            raise HTTPException(415, reason)
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData) and not isinstance(parsed.operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        return parsed

    async def execute_operation(
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context, root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """A stream reports a refused operation inside its 200; a mutation over GET must be a 405."""
        if (request_adapter.method == "GET" and isinstance(request_data, GraphQLRequestData)
                and request_data.protocol != "http" and _names_a_mutation(request_data)):
            raise HTTPException(405, "mutation over GET") from InvalidOperationTypeError(OperationType.MUTATION)
        return await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                               sub_response)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict):  # a batch (an array) too: batching is off
            raise HTTPException(400, f"Expected a JSON object, got {_JSON_NAMES.get(type(parsed), 'a number')}.")
        return parsed

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """An empty optional parameter in a GET is as if it were absent (the spec says so)."""
        return super().parse_query_params({name: value for name, value in params.items()
                                           if value != "" or name == "query"})

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        accept = request.headers.get("accept")
        answers_graphql_response = json_media_type(accept) == GRAPHQL_RESPONSE_JSON and stream_protocol(accept) is None
        if answers_graphql_response and _is_request_error(result):
            del response["data"]  # nothing was executed: the spec's sign for a 4xx
        return response

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
                        sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{sub_response.media_type or JSON}; charset=utf-8"
        if isinstance(response_data, dict) and "data" not in response_data and not sub_response.status_code:
            response.status_code = 400
        return response


@lru_cache(maxsize=HEADERS_KEPT)
def reads_json(content_type: str | None) -> bool:
    """Whether `run` reads a POST body of this Content-Type as JSON (it refuses any other)."""
    return (unreadable_body_reason(content_type) is None
            and "application/json" in parse_content_type(_lower_media_type(content_type or ""))[0])


def _names_a_mutation(request_data: GraphQLRequestData) -> bool:
    """Whether the operation to run is a mutation; a document that does not parse is not (its
    errors are reported when it runs). GET URLs are short, so parsing twice costs little."""
    try:
        document = parse(request_data.query or "")
    except (GraphQLError, RecursionError):
        return False
    operation = get_operation_ast(document, request_data.operation_name)
    return operation is not None and operation.operation is DocumentOperationType.MUTATION


def _is_request_error(result: ExecutionResult) -> bool:
    """Syntax, validation and variable coercion errors stop a request before any field runs,
    so they have no path; field errors always have one."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)


def _refusal_response(refusal: HTTPException) -> Response:
    status, message, headers = refusal.status_code, refusal.reason, {}
    cause = refusal.__cause__
    refused_type = cause.operation_type if isinstance(cause, InvalidOperationTypeError) else None
    if refused_type is OperationType.MUTATION:
        status, message, headers = 405, "Mutations are not allowed over GET: send them with POST.", {"Allow": "POST"}
    elif refused_type is OperationType.SUBSCRIPTION:
        message = HOW_TO_SUBSCRIBE
    elif status == 405:
        headers = {"Allow": "GET, POST"}
    body = {"errors": [{"message": message, "extensions": {"code": BAD_USER_INPUT}}]}
    return Response(json.dumps(body), status_code=status, headers=headers, media_type=f"{JSON}; charset=utf-8")
