"""The Starlette application: GraphQL, health and readiness endpoints, and the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from server.bootstrap import Container, build, migrate, prepare_read_model
from server.graphiql import ASSETS_ROUTE
from server.graphql_view import GraphQLView
from server.http_guards import BodyLimit, RequestId
from server.http_metrics import HttpMetrics
from server.settings import Settings
from server.supervision import Supervisor

# How long shutdown waits for the sync worker to finish its batch before cancelling it.
WORKER_GRACE_S = 10.0


def create_app(settings: Settings, *, run_worker: bool = True) -> Starlette:
    container = build(settings, local_worker=run_worker)
    supervisor = Supervisor(container.registry)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await migrate(container)
        await prepare_read_model(container)
        if run_worker:  # stopped, not cancelled, so that it finishes its batch
            supervisor.start("sync-worker", container.worker.run, stop=container.worker.stop)
        supervisor.start("sync-monitor", container.monitor.run)
        supervisor.start("change-feed", container.changes.run)
        try:
            yield
        finally:
            await supervisor.stop(WORKER_GRACE_S)
            await container.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = await _readiness_problems(container) + supervisor.problems()
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
