"""Automatic persisted queries and trusted documents on a live server, over HTTP POST and GET
and both WebSocket protocols, with Apollo Client's persisted-query link from Node.js."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pydantic import SecretStr
from websockets.typing import Subprotocol

from server.settings import Settings
from tests.e2e.operations import CREATE_PRODUCT
from tests.support import SECRET, STOREFRONT, Api, LiveServer, environment, running_server, token

NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "persisted_queries.mjs"

COUNT = "query Count { products { totalCount } }"
WATCH = "subscription Watch($after: String) { productChanged(after: $after) { event productId } }"
UNLISTED = "query Unlisted { products { totalCount pageInfo { hasNextPage } } }"
NOT_GRAPHQL = "{ this is ( not graphql"


def admin() -> str:
    """Minted when used: a token made at import would expire before a long suite reaches the test."""
    return f"Bearer {token('root', ['admin'])}"


def customer() -> str:
    return f"Bearer {token('c-1', ['customer'])}"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(sha256_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hash}}


def code(body: dict[str, Any]) -> str:
    [error] = body["errors"]
    return str(error["extensions"]["code"])


async def post(http: httpx.AsyncClient, body: dict[str, Any], authorization: str | None = None) -> dict[str, Any]:
    headers = {"authorization": authorization} if authorization else {}
    answer: dict[str, Any] = (await http.post("/graphql", json=body, headers=headers)).json()
    return answer


async def get(http: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    return await http.get("/graphql", params=params, headers={"accept": "application/json"})


async def run_node(url: str, query: str, method: str) -> dict[str, Any]:
    client = await asyncio.create_subprocess_exec(
        "node", str(NODE_CLIENT), f"{url}/graphql", query, method,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(client.communicate(), 60)
    assert client.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout)
    return result


# ---------------------------------------------------------------- automatic persisted queries


def _extensions(sent: dict[str, Any]) -> dict[str, Any]:
    """A GET carries them as a JSON string, a POST as an object."""
    extensions = sent["extensions"]
    return json.loads(extensions) if isinstance(extensions, str) else dict(extensions)


def _assert_hash_then_text_then_hash(requests: list[dict[str, Any]], first_method: str) -> None:
    assert [request["method"] for request in requests] == [first_method, "POST", first_method]
    sent = [request["params"] if request["method"] == "GET" else request["body"] for request in requests]
    assert ["query" in each for each in sent] == [False, True, False]
    assert {_extensions(each)["persistedQuery"]["sha256Hash"] for each in sent} == {sha256(sent[1]["query"])}


@pytest.mark.parametrize("method", ["post", "get"])
async def test_apollo_clients_link_sends_the_hash_then_the_text_then_the_hash(
        live_server: LiveServer, method: str) -> None:
    seen = await run_node(live_server.url, COUNT, method)
    _assert_hash_then_text_then_hash(seen["requests"], method.upper())
    first, second = seen["answers"]
    assert first == second
    assert first["products"]["totalCount"] == 0


async def test_an_unknown_hash_is_not_found_in_apollos_words(api: Api) -> None:
    body = await post(api.http, {"extensions": apq(sha256(COUNT))})
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"
    assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_hash_that_is_not_the_querys_is_bad_input_and_registers_nothing(api: Api) -> None:
    body = await post(api.http, {"query": COUNT, "extensions": apq(sha256(UNLISTED))})
    assert code(body) == "BAD_USER_INPUT"
    assert code(await post(api.http, {"extensions": apq(sha256(UNLISTED))})) == "PERSISTED_QUERY_NOT_FOUND"


async def test_an_unsupported_version_is_bad_input(api: Api) -> None:
    body = await post(api.http, {"query": COUNT, "extensions": {"persistedQuery": {"version": 2,
                                                                                   "sha256Hash": sha256(COUNT)}}})
    assert code(body) == "BAD_USER_INPUT"
    assert "version 1" in body["errors"][0]["message"]


async def test_a_registered_hash_runs_over_get_and_its_answer_may_be_cached(api: Api) -> None:
    unknown = await get(api.http, {"extensions": json.dumps(apq(sha256(COUNT)))})
    assert code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.headers["cache-control"] == "no-store"  # or a cache would keep refusing after registration
    await post(api.http, {"query": COUNT, "extensions": apq(sha256(COUNT))})

    answer = await get(api.http, {"extensions": json.dumps(apq(sha256(COUNT)))})
    assert answer.json() == {"data": {"products": {"totalCount": 0}}}
    assert (answer.headers["cache-control"], answer.headers["vary"]) == ("public, max-age=5", "Authorization")
    as_someone = await api.http.get("/graphql", params={"extensions": json.dumps(apq(sha256(COUNT)))},
                                    headers={"authorization": admin(), "accept": "*/*"})  # not GraphiQL's page
    assert as_someone.json() == {"data": {"products": {"totalCount": 0}}}
    assert as_someone.headers["cache-control"] == "private, max-age=5"


def _padded(name: str) -> str:
    """A document of some 40 KB that costs a handful of tokens (comments are not counted)."""
    return f"# {name * 40_000}\nquery {name.upper()} {{ products {{ totalCount }} }}"


async def test_the_store_forgets_the_least_recently_used_beyond_its_size(settings: Settings) -> None:
    small = settings.model_copy(update={"apq_cache_bytes": 64 * 1024})
    async with running_server(small) as (url, _app), httpx.AsyncClient(base_url=url, timeout=30) as http:
        older, newer = _padded("a"), _padded("b")
        for document in (older, newer):
            assert "errors" not in await post(http, {"query": document, "extensions": apq(sha256(document))})
        assert code(await post(http, {"extensions": apq(sha256(older))})) == "PERSISTED_QUERY_NOT_FOUND"
        assert (await post(http, {"extensions": apq(sha256(newer))}))["data"] == {"products": {"totalCount": 0}}


# ---------------------------------------------------------------- trusted documents


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """As GraphQL Code Generator's client preset writes it with `persistedDocuments`."""
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256(document): document for document in (COUNT, WATCH, CREATE_PRODUCT)}))
    return path


def _trusted(settings: Settings, manifest: Path, allow_admin: bool = False) -> Settings:
    return settings.model_copy(update={"trusted_documents": manifest, "jwt_secret": SecretStr(SECRET),
                                       "trusted_documents_allow_admin": allow_admin})


@pytest.fixture
async def trusted(settings: Settings, manifest: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_server(_trusted(settings, manifest)) as (url, _app), \
            httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


class Socket:
    """One WebSocket connection speaking either protocol by hand."""

    def __init__(self, connection: Any, legacy: bool) -> None:
        self.connection, self.legacy = connection, legacy

    @classmethod
    async def open(cls, http: httpx.AsyncClient, legacy: bool, authorization: str | None = None) -> Socket:
        url = str(http.base_url).replace("http://", "ws://").rstrip("/") + "/graphql"
        protocol = "graphql-ws" if legacy else "graphql-transport-ws"
        socket = cls(await websockets.connect(url, subprotocols=[Subprotocol(protocol)]), legacy)
        await socket.send({"type": "connection_init", "payload": {"authorization": authorization} if authorization
                           else {}})
        assert (await socket.receive())["type"] == "connection_ack"
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def start(self, operation_id: str, payload: dict[str, Any]) -> None:
        await self.send({"id": operation_id, "type": "start" if self.legacy else "subscribe", "payload": payload})

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), 30))
        return message

    async def result(self, operation_id: str) -> dict[str, Any]:
        """The operation's first result, or its error; its `code` when it is refused."""
        message = await self.receive()
        assert message["id"] == operation_id, message
        if message["type"] == "error":
            error = message["payload"] if self.legacy else message["payload"][0]
            return {"code": error["extensions"]["code"]}
        assert message["type"] in ("data", "next"), message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def close(self) -> None:
        await self.connection.close()


async def test_listed_documents_run_named_by_id_hash_or_text(trusted: httpx.AsyncClient) -> None:
    expected = {"products": {"totalCount": 0}}
    for body in ({"documentId": sha256(COUNT)}, {"documentId": f"sha256:{sha256(COUNT)}"}, {"query": COUNT},
                 {"extensions": apq(sha256(COUNT))}):
        assert (await post(trusted, body))["data"] == expected, body
    for params in ({"documentId": sha256(COUNT)}, {"extensions": json.dumps(apq(sha256(COUNT)))}):
        assert (await get(trusted, params)).json()["data"] == expected, params


async def test_other_documents_are_refused_over_http_before_they_are_parsed(trusted: httpx.AsyncClient) -> None:
    for body in ({"query": NOT_GRAPHQL}, {"query": UNLISTED}, {"documentId": sha256(UNLISTED)},
                 {"query": UNLISTED, "extensions": apq(sha256(UNLISTED))}, {"extensions": apq(sha256(UNLISTED))}):
        answer = await post(trusted, body)
        assert code(answer) == "PERSISTED_QUERY_REQUIRED", (body, answer)
    refused = await get(trusted, {"query": NOT_GRAPHQL})
    assert code(refused.json()) == "PERSISTED_QUERY_REQUIRED"
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
async def test_other_documents_are_refused_over_websockets_and_the_connection_goes_on(
    trusted: httpx.AsyncClient, legacy: bool
) -> None:
    created = await post(trusted, {"documentId": sha256(CREATE_PRODUCT), "variables": {"input": {
        "sku": "TRUST-1", "name": "Trusted", "category": "c", "price": "1", "initialStock": 1}}}, admin())
    product_id = created["data"]["createProduct"]["id"]
    socket = await Socket.open(trusted, legacy)
    try:
        await socket.start("garbage", {"query": NOT_GRAPHQL})
        assert await socket.result("garbage") == {"code": "PERSISTED_QUERY_REQUIRED"}
        await socket.start("unlisted", {"query": WATCH.replace("productId", "position")})
        assert await socket.result("unlisted") == {"code": "PERSISTED_QUERY_REQUIRED"}
        await socket.start("listed", {"documentId": sha256(WATCH), "variables": {"after": "0"}})
        assert await socket.result("listed") == {"productChanged": {"event": "ProductCreated",
                                                                    "productId": product_id}}
    finally:
        await socket.close()


@pytest.mark.parametrize("allow_admin", [False, True])
async def test_admins_run_unlisted_documents_only_when_the_operator_allows_it(
    settings: Settings, manifest: Path, allow_admin: bool
) -> None:
    async with running_server(_trusted(settings, manifest, allow_admin)) as (url, _app), \
            httpx.AsyncClient(base_url=url, timeout=30) as http:
        admin_over_http = await post(http, {"query": UNLISTED}, admin())
        socket = await Socket.open(http, legacy=False, authorization=admin())
        try:
            await socket.start("1", {"query": UNLISTED})
            admin_over_ws = await socket.result("1")
        finally:
            await socket.close()
        for caller in (customer(), None, "Bearer not-a-token"):
            assert code(await post(http, {"query": UNLISTED}, caller)) == "PERSISTED_QUERY_REQUIRED", caller
    if allow_admin:
        expected = {"products": {"totalCount": 0, "pageInfo": {"hasNextPage": False}}}
        assert admin_over_http["data"] == admin_over_ws == expected
    else:
        refused = "PERSISTED_QUERY_REQUIRED"
        assert (code(admin_over_http), admin_over_ws) == (refused, {"code": refused})


@pytest.mark.parametrize(("content", "complaint"), [
    (None, "cannot read the trusted documents manifest"),
    ('{"0123": "query A { a }"}', "must map a sha256 hex digest"),
    (json.dumps({sha256(COUNT): UNLISTED}), "is not the sha256 hash of its document"),
], ids=["missing", "not a hash", "wrong hash"])
async def test_a_bad_manifest_stops_serve_with_one_line(
    settings: Settings, tmp_path: Path, content: str | None, complaint: str
) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    process = await asyncio.create_subprocess_exec(
        STOREFRONT, "serve", "--port", "1", env=environment(settings, STOREFRONT_TRUSTED_DOCUMENTS=str(path)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    [line] = stderr.decode().splitlines()
    assert process.returncode == 1
    assert line.startswith("error: ")
    assert "STOREFRONT_TRUSTED_DOCUMENTS:" in line
    assert complaint in line
