"""The Starlette application: GraphQL, health and readiness endpoints, and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult

from schema.build import Protection, build_schema
from schema.failures import QueryTooComplex
from schema.limits import Limits
from schema.principal import InvalidCredentials
from schema.context import CloseConnection, Context
from server.bootstrap import Container, build, migrate, prepare_read_model
from server.graphiql import ASSETS_ROUTE, OfflineGraphiQL
from server.http_guards import BodyLimit, RequestId
from server.http_metrics import HttpMetrics
from server.settings import Settings

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 1.0


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


def create_app(settings: Settings, *, run_worker: bool = True) -> Starlette:
    container = build(settings, local_worker=run_worker)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await migrate(container)
        await prepare_read_model(container)
        worker_task = asyncio.create_task(container.worker.run(), name="sync-worker") if run_worker else None
        background = [
            asyncio.create_task(_sample_forever(container), name="sync-monitor"),
            asyncio.create_task(container.changes.run(), name="change-feed"),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if worker_task is not None:
                container.worker.stop()
                await _finish(worker_task)
            await asyncio.gather(*background, return_exceptions=True)
            await container.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = await _readiness_problems(container)
        if problems:
            return JSONResponse({"status": "unavailable", "reasons": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(container.registry), media_type=CONTENT_TYPE_LATEST)

    graphql = GraphQLView(container)
    routes: list[Route | WebSocketRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route(f"{ASSETS_ROUTE}/{{name:path}}", graphql.graphiql.asset),
    ]
    paths = {route.path for route in routes}
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestId),
            Middleware(HttpMetrics, registry=container.registry, paths=paths),
            Middleware(BodyLimit, max_bytes=container.settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.container = container  # for operators' tooling and tests, not for request handling
    return app


async def _sample_forever(container: Container) -> None:
    """Keeps lag, positions and dead letters current for /metrics and readiness."""
    while True:
        try:
            await container.monitor.sample()
        except Exception:  # the database may be down; readiness reports that on its own
            log.debug("sync monitor could not sample", exc_info=True)
        await asyncio.sleep(SAMPLE_INTERVAL_S)


async def _finish(task: asyncio.Task[None], grace_s: float = 10.0) -> None:
    """Let the worker finish its batch; cancel it if that takes too long."""
    try:
        await asyncio.wait_for(task, grace_s)
    except TimeoutError:
        log.warning("sync worker did not stop within %ss; cancelled", grace_s)


async def _readiness_problems(container: Container) -> list[str]:
    problems = []
    try:
        async with container.database.reader.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready"; the reason is reported
        problems.append(f"database: {error.__class__.__name__}: {error}")
    try:
        await container.elasticsearch.cluster.health(timeout="2s")
    except Exception as error:
        problems.append(f"elasticsearch: {error.__class__.__name__}: {error}")
    stalled = container.monitor.stalled()
    if stalled:
        problems.append(stalled)
    return problems
