"""Request counts and latency per endpoint, as Prometheus metrics."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """Pure ASGI middleware (no response buffering, so WebSockets and streams pass through).
    Labels use known paths only, so a scan of random URLs cannot grow the label set."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, paths: set[str]) -> None:
        self._app = app
        self._paths = paths
        self._requests = Counter("storefront_http_requests", "HTTP requests served.",
                                 ["method", "path", "status"], registry=registry)
        self._seconds = Histogram("storefront_http_request_seconds", "Time to answer an HTTP request.",
                                  ["method", "path"], registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in self._paths else "other"
        status = 500
        started = time.perf_counter()

        async def send_and_observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_observe)
        finally:
            self._requests.labels(scope["method"], path, str(status)).inc()
            self._seconds.labels(scope["method"], path).observe(time.perf_counter() - started)
