"""A POST of a document seen before is answered without strawberry's view
(GraphQLView.answer_directly): the answer must be the one the view gives, byte for byte.

Each request goes twice to a live server. The first time its document is new, so the view
answers it and caches the document; the second time the shorter way does (the test checks the
schema knows the document by then). Status, content type and body must be the same."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from schema.build import ServedSchema
from server.graphql_view import GraphQLView
from tests.e2e.operations import ADJUST_STOCK, CREATE_PRODUCT, SEARCH_PRODUCTS, SYNC_STATUS
from tests.e2e.test_subscriptions import PRODUCT_CHANGED
from tests.support import Api, LiveServer, Secured

GRAPHQL_RESPONSE = "application/graphql-response+json"
# The cases' own documents must be new to the server, so the seed uses others.
SEED = """mutation Seed($input: CreateProductInput!) {
  createProduct(input: $input) { ... on ProductAccepted { position } }
}"""
INDEXED = "query Indexed($position: String) { products(consistentWith: $position) { totalCount } }"
TWO_OPERATIONS = "query Status { syncStatus { lag } } query Count { products { totalCount } }"

# (name, body, Accept): the shorter way takes every one of these the second time.
KNOWN = [
    ("typename without Accept", {"query": "{ __typename }"}, None),
    ("search with facets", {"query": SEARCH_PRODUCTS, "variables": {"search": "lamp", "first": 5}}, GRAPHQL_RESPONSE),
    ("search as application/json", {"query": SEARCH_PRODUCTS, "variables": {"first": 2}}, "application/json"),
    ("a variable that does not coerce, graphql-response+json",
     {"query": SEARCH_PRODUCTS, "variables": {"first": "ten"}}, GRAPHQL_RESPONSE),
    ("a variable that does not coerce, application/json",
     {"query": SEARCH_PRODUCTS, "variables": {"first": "ten"}}, "*/*"),
    ("a missing required variable", {"query": ADJUST_STOCK, "variables": {}}, GRAPHQL_RESPONSE),
    ("a resolver's error (a bad cursor)",
     {"query": SEARCH_PRODUCTS, "variables": {"after": "not-a-cursor"}}, GRAPHQL_RESPONSE),
    ("a page larger than allowed", {"query": SEARCH_PRODUCTS, "variables": {"first": 100_000}}, GRAPHQL_RESPONSE),
    ("a rejected mutation (a typed failure)",
     {"query": ADJUST_STOCK, "variables": {"input": {"productId": "UHJvZHVjdDpub25l", "delta": 1}}}, None),
    ("an invalid input (a typed failure)",
     {"query": CREATE_PRODUCT,
      "variables": {"input": {"sku": "", "name": "", "category": "c", "price": "-1"}}}, GRAPHQL_RESPONSE),
    ("one operation of two, by name", {"query": TWO_OPERATIONS, "operationName": "Count"}, None),
    ("sync status with null extras", {"query": SYNC_STATUS, "variables": None, "operationName": None}, None),
]

# Requests the view answers every time: the shorter way must leave them alone.
UNKNOWN = [
    ("a subscription without a stream", {"query": PRODUCT_CHANGED, "variables": {"id": "UHJvZHVjdDpub25l"}}),
    ("two operations without a name (the GraphQL spec's GetOperation)", {"query": TWO_OPERATIONS}),
    ("an operation name the document lacks", {"query": TWO_OPERATIONS, "operationName": "Nope"}),
    ("a document that does not validate", {"query": "{ products { nope } }"}),
]


def _schema(live_server: LiveServer) -> ServedSchema:
    view = next(route.endpoint for route in live_server.app.routes
                if isinstance(route, Route) and route.path == "/graphql")
    assert isinstance(view, GraphQLView) and isinstance(view.schema, ServedSchema)
    return view.schema


async def _post(http: httpx.AsyncClient, body: dict[str, Any], accept: str | None,
                authorization: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    headers |= {"accept": accept} if accept else {}
    headers |= {"authorization": authorization} if authorization else {}
    return await http.post("/graphql", content=json.dumps(body), headers=headers)


def _answer(response: httpx.Response) -> tuple[int, str, bytes]:
    return response.status_code, response.headers["content-type"], response.content


@pytest.mark.parametrize(("name", "body", "accept"), KNOWN, ids=[case[0] for case in KNOWN])
async def test_a_known_document_is_answered_as_the_view_answers_it(
    api: Api, live_server: LiveServer, name: str, body: dict[str, Any], accept: str | None
) -> None:
    for sku in ("LAMP-1", "LAMP-2", "DESK-1"):
        created = await api(SEED, {"input": {"sku": sku, "name": f"{sku} lamp", "category": "c", "price": "2.50"}})
    await api(INDEXED, {"position": created["createProduct"]["position"]})
    schema = _schema(live_server)
    assert schema.known_document(body["query"], body.get("operationName")) is None
    by_view = await _post(api.http, body, accept)
    assert schema.known_document(body["query"], body.get("operationName")) is not None
    directly = await _post(api.http, body, accept)
    assert _answer(directly) == _answer(by_view)


@pytest.mark.parametrize(("name", "body"), UNKNOWN, ids=[case[0] for case in UNKNOWN])
async def test_what_the_view_must_answer_never_takes_the_shorter_way(
    api: Api, live_server: LiveServer, name: str, body: dict[str, Any]
) -> None:
    first = await _post(api.http, body, GRAPHQL_RESPONSE)
    assert first.status_code == 400, first.text
    assert _schema(live_server).known_document(body["query"], body.get("operationName")) is None
    assert _answer(await _post(api.http, body, GRAPHQL_RESPONSE)) == _answer(first)


async def test_a_bad_token_is_refused_the_same_way_both_times(secured: Secured) -> None:
    body = {"query": "query Customers { customers(first: 1) { totalCount } }"}
    by_view = await _post(secured.http, body, GRAPHQL_RESPONSE, authorization="Bearer not-a-token")
    directly = await _post(secured.http, body, GRAPHQL_RESPONSE, authorization="Bearer not-a-token")
    assert by_view.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert _answer(directly) == _answer(by_view)
