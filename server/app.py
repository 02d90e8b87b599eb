"""The Starlette application: GraphQL, health and readiness endpoints, and the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from read_model.indices import ALL_INDICES
from server.bootstrap import Container, build, migrate, prepare_read_model
from server.demo import DemoPage
from server.graphiql import ASSETS_ROUTE
from server.graphql_view import GraphQLView
from server.http_guards import BodyLimit, RequestId, WebSocketsDirect
from server.http_metrics import HttpMetrics
from server.settings import Settings
from server.supervision import Supervisor
from write_model.availability import is_unavailable

# How long shutdown waits for the sync worker to finish its batch before cancelling it.
WORKER_GRACE_S = 10.0


def create_app(settings: Settings, *, run_worker: bool = True) -> Starlette:
    container = build(settings, local_worker=run_worker)
    supervisor = Supervisor(container.registry, is_outage=is_unavailable)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await migrate(container)
        await prepare_read_model(container)
        if run_worker:  # stopped, not cancelled, so that it finishes its batch
            supervisor.start("sync-worker", container.worker.run, stop=container.worker.stop)
            if settings.drift_check_interval_s > 0:
                supervisor.start("drift-check", container.drift_check.run)
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
        problems, warnings = await _readiness(container, runs_worker=run_worker)
        problems += supervisor.problems()
        if problems:
            return JSONResponse({"status": "unavailable", "reasons": problems}, status_code=503)
        # Drift is named but keeps the process in service: its answers are no worse for being taken out.
        drift = container.drift_check.problem()
        warnings += [drift] if drift else []
        return JSONResponse({"status": "ready", "warnings": warnings} if warnings else {"status": "ready"})

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(container.registry), media_type=CONTENT_TYPE_LATEST)

    graphql = GraphQLView(container)
    routes = [
        # Its WebSockets skip the router (WebSocketsDirect, below).
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route(f"{ASSETS_ROUTE}/{{name:path}}", graphql.graphiql.asset),
    ]
    if settings.demo:
        routes += DemoPage(auth_enabled=settings.auth_enabled).routes()
    paths = {route.path for route in routes}
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestId),
            Middleware(WebSocketsDirect, path="/graphql", endpoint=graphql),
            Middleware(HttpMetrics, registry=container.registry, paths=paths),
            Middleware(BodyLimit, max_bytes=container.settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.container = container  # for operators' tooling and tests, not for request handling
    return app


async def _readiness(container: Container, *, runs_worker: bool) -> tuple[list[str], list[str]]:
    """What keeps this process out of service, and what it serves despite."""
    problems, warnings = [], []
    try:
        async with container.database.reader.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready"; the reason is reported
        problems.append(f"database: {error.__class__.__name__}: {error}")
    try:
        health = await _read_model_health(container)
    except Exception as error:
        problems.append(f"elasticsearch: {error.__class__.__name__}: {error}")
    else:
        # Red: some primary is missing, so some reads fail. Yellow: every document is there, only
        # some replicas are missing (a node is gone); reads answer, so the process stays in service.
        if health["status"] == "red":
            problems.append(f"elasticsearch: the read model's indices are red ({health['unassigned_primary_shards']}"
                            " primary shards unassigned)")
        elif health["status"] == "yellow":
            warnings.append(f"elasticsearch: the read model's indices are yellow ({health['unassigned_shards']}"
                            f" replica shards unassigned, {health['number_of_nodes']} nodes): reads answer,"
                            " with less redundancy")
    # A stalled worker fails the readiness of a process that runs one. An API process without a
    # worker (`serve --no-sync`) answers as well as any other meanwhile: a load balancer that took
    # every such process out for a stall elsewhere would turn a lagging read model into an outage.
    stalled = container.monitor.stalled()
    if stalled:
        (problems if runs_worker else warnings).append(stalled)
    return problems, warnings


async def _read_model_health(container: Container) -> dict[str, Any]:
    """Health of this deployment's indices only: another's on the same cluster is not our concern.
    Both timeouts short, so a cluster without a master answers within the probe's patience."""
    prefix = container.settings.index_prefix
    response = await container.elasticsearch.cluster.health(
        index=",".join(f"{definition.alias(prefix)}-*" for definition in ALL_INDICES),
        timeout="2s", master_timeout="2s",
    )
    health: dict[str, Any] = response.body
    return health
