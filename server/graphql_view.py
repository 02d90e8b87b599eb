"""The GraphQL endpoint: HTTP and both WebSocket protocols, with its limits and auth hooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult

from schema.build import Protection, build_schema
from schema.context import CloseConnection, Context
from schema.failures import QueryTooComplex
from schema.limits import Limits
from schema.principal import InvalidCredentials
from server.bootstrap import Container
from server.graphiql import OfflineGraphiQL


class GraphQLView(GraphQL[Context, None]):
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
        )
        self._container = container
        self._timeout_s = settings.operation_timeout_s
        self.graphiql = OfflineGraphiQL(self.graphql_ide_html)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphiql.page)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if isinstance(request, WebSocket):
            return self._container.context(close_connection=_closer(request))
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

    def decode_json(self, data: str | bytes) -> object:
        """Bytes that are not UTF-8, or JSON nested past Python's recursion limit, are the
        caller's error (400), not the server's."""
        try:
            return super().decode_json(data)
        except (UnicodeDecodeError, RecursionError) as error:
            raise json.JSONDecodeError(f"undecodable body: {error.__class__.__name__}", "", 0) from error

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Bounds each HTTP operation; commands started inside still finish (CommandBus)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await super().execute_single(*args, **kwargs)
        except TimeoutError:
            message = f"The operation took longer than {self._timeout_s:g}s."
            return ExecutionResult(data=None, errors=[QueryTooComplex(message)])


def _close_when_expired(close: CloseConnection, expires_at: datetime) -> None:
    delay_s = max((expires_at - datetime.now(UTC)).total_seconds(), 0)
    loop = asyncio.get_running_loop()
    # A timer, not a task: nothing lingers for connections that end before their token does.
    loop.call_later(delay_s, lambda: loop.create_task(_close_quietly(close, 4401, "token expired")))


async def _close_quietly(close: CloseConnection, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError):  # the connection is gone already
        await close(code, reason)


def _closer(websocket: WebSocket) -> CloseConnection:
    async def close(code: int, reason: str) -> None:
        await websocket.close(code, reason)

    return close
