"""The request body cap (server.http_guards.BodyLimit), driven as a plain ASGI app with real
ASGI messages: what a server such as uvicorn hands it, and what it sends back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from starlette.types import Message, Receive, Scope, Send

from server.http_guards import BodyLimit

CAP = 100


@dataclass
class _Echo:
    """An application that reads the whole body, then answers 200 with how many bytes it read."""

    respond_first: bool = False
    calls: int = 0
    read: bytes = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        if self.respond_first:  # a streaming app: answers, then keeps reading
            await send({"type": "http.response.start", "status": 200, "headers": []})
        more_body = True
        while more_body:
            message = await receive()
            self.read += message.get("body", b"")
            more_body = message.get("more_body", False)
        if not self.respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(self.read)).encode()})


@dataclass
class _Exchange:
    sent: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        [start] = [message for message in self.sent if message["type"] == "http.response.start"]
        status: int = start["status"]
        return status

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.sent if message["type"] == "http.response.body")


async def _post(app: _Echo, chunks: list[bytes], content_length: bytes | None = None) -> _Exchange:
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", content_length))
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                    "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "headers": headers}
    messages: list[Message] = [{"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
                               for n, chunk in enumerate(chunks)]
    exchange = _Exchange()

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        exchange.sent.append(message)

    await BodyLimit(app, max_bytes=CAP)(scope, receive, send)
    return exchange


def _assert_refused(exchange: _Exchange) -> None:
    assert exchange.status == 413
    [start] = [message for message in exchange.sent if message["type"] == "http.response.start"]
    assert dict(start["headers"])[b"content-length"] == str(len(exchange.body)).encode()
    [error] = json.loads(exchange.body)["errors"]
    assert error == {"message": f"The request body is larger than {CAP} bytes.",
                     "extensions": {"code": "BAD_USER_INPUT"}}


async def test_a_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    app = _Echo()
    exchange = await _post(app, [b"x" * (CAP + 1)], content_length=str(CAP + 1).encode())
    _assert_refused(exchange)
    assert app.calls == 0


async def test_a_chunked_body_over_the_cap_is_refused_while_it_is_read() -> None:
    app = _Echo()
    exchange = await _post(app, [b"x" * 40, b"x" * 40, b"x" * 40, b"x" * 40])
    _assert_refused(exchange)
    assert len(app.read) <= CAP  # the app never got the chunk that crossed the cap


async def test_a_body_that_lies_about_its_length_is_refused_when_it_crosses_the_cap() -> None:
    exchange = await _post(_Echo(), [b"x" * 60, b"x" * 60], content_length=b"10")
    _assert_refused(exchange)


@pytest.mark.parametrize("chunks", [[b"x" * CAP], [b"x" * 50, b"x" * 50], [b""]])
async def test_a_body_up_to_the_cap_passes_through_whole(chunks: list[bytes]) -> None:
    app = _Echo()
    size = sum(map(len, chunks))
    exchange = await _post(app, chunks, content_length=str(size).encode())
    assert (exchange.status, exchange.body, app.read) == (200, str(size).encode(), b"".join(chunks))


async def test_a_chunked_body_under_the_cap_passes_through_whole() -> None:
    app = _Echo()
    exchange = await _post(app, [b"{", b"x" * 98, b"}"])
    assert (exchange.status, exchange.body) == (200, b"100")


@pytest.mark.parametrize("declared", [b"12abc", b"-1", b" 5", b"1e2", b"", b"\xd9\xa1"])
async def test_a_content_length_that_is_not_digits_is_refused(declared: bytes) -> None:
    app = _Echo()
    _assert_refused(await _post(app, [b"{}"], content_length=declared))
    assert app.calls == 0


async def test_a_response_already_under_way_is_not_followed_by_a_second_one() -> None:
    exchange = await _post(_Echo(respond_first=True), [b"x" * 60, b"x" * 60])
    assert [message["type"] for message in exchange.sent] == ["http.response.start"]
    assert exchange.status == 200


async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> Message:
        raise AssertionError("not read")

    async def ignore(message: Message) -> None:
        raise AssertionError("nothing sent")

    for kind in ("websocket", "lifespan"):
        await BodyLimit(app, max_bytes=CAP)({"type": kind, "headers": [(b"content-length", b"999")]}, nothing, ignore)
    assert seen == ["websocket", "lifespan"]
