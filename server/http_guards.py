"""HTTP-level protection: a cap on request bodies, and a request id on every request."""

from __future__ import annotations

import json
import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.error_codes import request_id

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId:
    """Takes a caller's X-Request-ID when it is sane, else makes one; echoes it back and
    makes it available to error reports (schema.error_codes.request_id)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # 32 random hex digits, as uuid4().hex gave, without its system call: os.urandom lets go
        # of the GIL, and getting it back from the database's thread cost up to a switch interval.
        # An id only has to be unique, not secret (callers may choose their own).
        reference = given if _SAFE_ID.fullmatch(given) else f"{random.getrandbits(128):032x}"
        token = request_id.set(reference)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", reference.encode())]
            await send(message)

        try:
            # A WebSocket has no response start to add the header to: its every frame goes out unwrapped.
            await self._app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            request_id.reset(token)


class WebSocketsDirect:
    """Hands a WebSocket to `path` straight to its endpoint. The layers after this one (HTTP
    metrics and body limits, which pass WebSockets through, starlette's exception handling and
    routing) would each keep a frame alive for the connection's life: 3 KiB of an idle
    subscription (bench/README.md, B8)."""

    def __init__(self, app: ASGIApp, path: str, endpoint: ASGIApp) -> None:
        self._app = app
        self._path = path
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == self._path:
            await self._endpoint(scope, receive, send)
        else:
            await self._app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the prefix a proxy mounts the app under."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path):] if root_path and path.startswith(root_path) else path


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413, by Content-Length up front or while
    reading a chunked body, before the application buffers it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_bytes):
            await self._refuse(send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max_bytes:
                raise _TooLarge()
            return message

        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"errors": [{"message": f"The request body is larger than {self._max_bytes} bytes.",
                                       "extensions": {"code": "BAD_USER_INPUT"}}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
