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
        # Each request would otherwise look its labelled series up again (labels() checks, locks
        # and builds its key every time). One entry per series the metrics keep anyway.
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

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
            self._timer(scope["method"], path).observe(time.perf_counter() - started)
            self._counter(scope["method"], path, status).inc()

    def _counter(self, method: str, path: str, status: int) -> Counter:
        key = (method, path, status)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = self._requests.labels(method, path, str(status))
        return counter

    def _timer(self, method: str, path: str) -> Histogram:
        key = (method, path)
        timer = self._timed.get(key)
        if timer is None:
            timer = self._timed[key] = self._seconds.labels(method, path)
        return timer
