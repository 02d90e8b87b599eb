"""Operations built to hurt: each is refused with the right code, the server keeps answering
health checks meanwhile, and nothing is written."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from server.bootstrap import Container
from tests.e2e.test_subscriptions import PRODUCT_CHANGED, RawSocket
from tests.support import Api


def _depth_bomb(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


ALIAS_FLOOD = "{ " + " ".join(f"a{n}: syncStatus {{ lag }}" for n in range(1000)) + " }"
FRAGMENT_CYCLE = "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }"
COSTLY = "{ " + " ".join(f"p{n}: products(first: 100) {{ edges {{ node {{ id name sku tags }} }} }}"
                         for n in range(10)) + " }"
NESTED_LIST = "{ products(filter: {tags: " + "[" * 200 + '"x"' + "]" * 200 + "}) { totalCount } }"

REFUSED_OPERATIONS = [
    ("depth bomb", _depth_bomb(40), {}, "QUERY_TOO_COMPLEX"),
    ("alias flood", ALIAS_FLOOD, {}, "QUERY_TOO_COMPLEX"),
    ("huge first", "{ products(first: 1000000) { totalCount } }", {}, "BAD_USER_INPUT"),
    ("costly pages", COSTLY, {}, "QUERY_TOO_COMPLEX"),
    ("fragment cycle", FRAGMENT_CYCLE, {}, "BAD_USER_INPUT"),
    ("deeply nested input list", NESTED_LIST, {}, "BAD_USER_INPUT"),
    ("nested list in variables", "query($t: [String!]) { products(filter: {tags: $t}) { totalCount } }",
     {"t": [[[["x"]]]]}, "BAD_USER_INPUT"),
]


@pytest.mark.parametrize(("name", "document", "variables", "code"), REFUSED_OPERATIONS,
                         ids=[case[0] for case in REFUSED_OPERATIONS])
async def test_hostile_operations_are_refused_with_their_code(
    api: Api, name: str, document: str, variables: dict[str, Any], code: str
) -> None:
    body = await api.raw(document, variables)
    assert body.get("data") is None
    assert {error["extensions"]["code"] for error in body["errors"]} == {code}
    assert "Traceback" not in json.dumps(body)


# Refused while parsing: only documents that parsed are cached (schema/parse_cache.py), so these
# take the normal path, and keep their code, every time they come back.
PARSE_REFUSALS = [
    ("syntax error", "{ products(first: 1) { totalCount }", "BAD_USER_INPUT"),
    ("too many tokens", "{ " + "__typename " * 3_000 + "}", "QUERY_TOO_COMPLEX"),
]


@pytest.mark.parametrize(("name", "document", "code"), PARSE_REFUSALS, ids=[case[0] for case in PARSE_REFUSALS])
async def test_a_document_refused_while_parsing_keeps_its_code_when_sent_again(
    api: Api, name: str, document: str, code: str
) -> None:
    bodies = [await api.raw(document) for _ in range(3)]
    assert [[error["extensions"]["code"] for error in body["errors"]] for body in bodies] == [[code]] * 3
    assert all(body.get("data") is None for body in bodies)


async def test_a_long_string_in_a_small_body_is_a_field_error(api: Api, container: Container) -> None:
    mutation = ("mutation($i: CreateProductInput!) { createProduct(input: $i) { __typename "
                "... on ValidationError { fields { field } } } }")
    result = await api(mutation, {"i": {"sku": "LONG", "name": "n" * 50_000, "category": "c", "price": "1"}})
    assert result["createProduct"] == {"__typename": "ValidationError", "fields": [{"field": "name"}]}
    assert await container.outbox.head() == 0


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status"),
    [
        ("100 KB string", json.dumps({"query": "{ products(search: \"" + "x" * 100_000 + "\") { totalCount } }"}),
         "application/json", 413),
        ("oversized body", b"{" + b" " * 5_000_000 + b"}", "application/json", 413),
        ("invalid UTF-8", b'{"query": "{ products { totalCount } }\xff\xfe"}', "application/json", 400),
        ("deeply nested JSON", '{"query": "{ products { totalCount } }", "variables": ' + "[" * 20_000
         + "]" * 20_000 + "}", "application/json", 400),
        # An unsupported Content-Type is 415 (GraphQL-over-HTTP draft), for every Accept.
        ("plain text", "{ products { totalCount } }", "text/plain", 415),
        ("form post (CSRF)", "query=%7B+products+%7B+totalCount+%7D+%7D", "application/x-www-form-urlencoded", 415),
        ("multipart (CSRF)", "--b\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--b--\r\n",
         "multipart/form-data; boundary=b", 415),
        ("batch", json.dumps([{"query": "{ products { totalCount } }"}] * 3), "application/json", 400),
    ],
)
async def test_hostile_requests_are_refused_before_execution(
    api: Api, container: Container, name: str, content: str | bytes, content_type: str, status: int
) -> None:
    response = await api.http.post("/graphql", content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert await container.outbox.head() == 0


async def test_a_subscription_flood_on_one_connection_is_capped(api: Api) -> None:
    socket = await RawSocket.open(str(api.http.base_url).replace("http://", "ws://") + "/graphql")
    try:
        for n in range(200):
            await socket.subscribe(str(n), PRODUCT_CHANGED)
        refusals = [await socket.receive() for _ in range(180)]
    finally:
        await socket.close()
    assert {(message["type"], message["payload"][0]["message"]) for message in refusals} == {
        ("error", "Subscription limit reached")}


async def test_the_server_stays_responsive_during_a_flood(api: Api, container: Container) -> None:
    async def hostile(n: int) -> int:
        document = [ALIAS_FLOOD, _depth_bomb(40), COSTLY, FRAGMENT_CYCLE][n % 4]
        return (await api.http.post("/graphql", json={"query": document})).status_code

    flood = [asyncio.create_task(hostile(n)) for n in range(200)]
    async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=5) as probe:
        health = [(await probe.get("/healthz")).status_code for _ in range(5)]
    statuses = await asyncio.gather(*flood)
    assert health == [200] * 5
    assert set(statuses) == {200}  # refusals are GraphQL errors, never a 5xx
    assert await container.outbox.head() == 0


async def test_the_full_introspection_query_graphiql_sends_is_allowed(api: Api) -> None:
    body = await api.raw(get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
