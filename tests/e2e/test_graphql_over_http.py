"""GraphQL over HTTP (graphql-over-http draft): graphql-http's audit against the live server,
status codes per Accept, and the refusals that come before execution."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.bootstrap import Container
from tests.e2e.operations import SYNC_STATUS
from tests.e2e.test_subscriptions import PRODUCT_CHANGED
from tests.support import Api

AUDIT = Path(__file__).resolve().parents[1] / "node" / "audit.mjs"
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_every_item_of_the_graphql_http_audit_passes(api: Api) -> None:
    audit = await asyncio.create_subprocess_exec(
        "node", str(AUDIT), f"{api.http.base_url}/graphql",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(audit.communicate(), 120)
    assert audit.returncode == 0, stderr.decode()
    results = json.loads(stdout)
    assert len(results) >= 60, results  # graphql-http 1.23 has 61 audits: all of them ran
    assert [result for result in results if result["status"] != "ok"] == []


async def _post(api: Api, body: object, accept: str | None = GRAPHQL_RESPONSE) -> httpx.Response:
    headers = {"content-type": "application/json"} | ({"accept": accept} if accept else {})
    return await api.http.post("/graphql", content=json.dumps(body), headers=headers)


REQUEST_ERRORS = [
    ("syntax error", {"query": "{ products { totalCount }"}),
    ("unknown field", {"query": "{ products { nope } }"}),
    ("variable that does not coerce", {"query": "query($n: Int) { products(first: $n) { totalCount } }",
                                       "variables": {"n": "ten"}}),
    ("missing required variable", {"query": "query($id: ID!) { product(id: $id) { id } }"}),
    ("more aliases than the limits allow", {"query": "{ " + " ".join(f"a{n}: syncStatus {{ lag }}" for n in range(31))
                                                    + " }"}),
]


@pytest.mark.parametrize(("name", "body"), REQUEST_ERRORS, ids=[case[0] for case in REQUEST_ERRORS])
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
    api: Api, name: str, body: dict[str, Any]
) -> None:
    response = await _post(api, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    answer = response.json()
    assert "data" not in answer
    assert answer["errors"] and all(error["extensions"]["code"] in ("BAD_USER_INPUT", "QUERY_TOO_COMPLEX")
                                    for error in answer["errors"])


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
@pytest.mark.parametrize(("name", "body"), REQUEST_ERRORS, ids=[case[0] for case in REQUEST_ERRORS])
async def test_a_request_error_stays_a_200_with_null_data_in_application_json(
    api: Api, name: str, body: dict[str, Any], accept: str | None
) -> None:
    response = await _post(api, body, accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["data"] is None and response.json()["errors"]


async def test_a_good_query_is_a_200_with_data_in_graphql_response_json(api: Api) -> None:
    response = await _post(api, {"query": "query Count($n: Int) { products(first: $n) { totalCount } }",
                                 "variables": {"n": 5}, "operationName": "Count"})
    assert (response.status_code, response.headers["content-type"]) == (200, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    assert response.json() == {"data": {"products": {"totalCount": 0}}}


@pytest.mark.parametrize(("query", "data"), [
    ('{ syncStatus { lag } product(id: "x", consistentWith: "not-a-position") { id } }',
     {"syncStatus": {"lag": 0}, "product": None}),
    ("{ products(first: 1000000) { totalCount } }", None),  # a non-null root field: data is null
])
async def test_a_field_error_is_a_200_with_data_in_graphql_response_json(
    api: Api, query: str, data: dict[str, Any] | None
) -> None:
    response = await _post(api, {"query": query})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] == data
    [error] = answer["errors"]
    assert error["path"] and error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(("accept", "media_type"), [
    ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
    ("application/json;q=0.5, application/graphql-response+json", GRAPHQL_RESPONSE),
    ("application/graphql-response+json;q=0.5, application/json", "application/json"),
    ("application/graphql-response+json;q=0, */*", "application/json"),
    ("application/*", "application/json"),
    ("text/html, application/graphql-response+json;q=0.1", GRAPHQL_RESPONSE),
])
async def test_the_answer_has_the_media_type_the_client_prefers(api: Api, accept: str, media_type: str) -> None:
    response = await _post(api, {"query": "{ nope }"}, accept)
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.status_code == (400 if media_type == GRAPHQL_RESPONSE else 200)


def _refusal(response: httpx.Response, status: int) -> str:
    """The message of a refusal: a GraphQL error with a code, in JSON, with the status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    message: str = error["message"]
    return message


@pytest.mark.parametrize("accept", ["text/html", "application/xml, application/json;q=0", "image/*"])
async def test_an_accept_this_server_cannot_answer_is_406(api: Api, accept: str) -> None:
    assert "application/json" in _refusal(await _post(api, {"query": "{ __typename }"}, accept), 406)


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/graphql", "application/json; charset=iso-8859-1", "application/jsonx", None])
async def test_a_body_that_is_not_json_in_utf8_is_415(api: Api, container: Container, content_type: str | None
                                                     ) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"query": 'mutation { discontinueProduct(input: {id: "x"}) { __typename } }'})
    response = await api.http.post("/graphql", content=body.encode("latin-1"), headers=headers)
    _refusal(response, 415)
    assert await container.outbox.head() == 0


async def test_utf8_is_read_whatever_the_case_of_its_name(api: Api) -> None:
    response = await api.http.post("/graphql", content='{"query": "{ __type(name: \\"Run🏃\\") { name } }"}',
                                   headers={"content-type": "Application/JSON; Charset=\"UTF-8\""})
    assert response.json() == {"data": {"__type": None}}


@pytest.mark.parametrize(("name", "body"), [
    ("array", [{"query": "{ __typename }"}]), ("string", "{ __typename }"), ("number", 7), ("null", None),
    ("object operationName", {"query": "{ __typename }", "operationName": {"name": "x"}}),
    ("number operationName", {"query": "{ __typename }", "operationName": 0}),
    ("array variables", {"query": "{ __typename }", "variables": [1]}),
    ("string extensions", {"query": "{ __typename }", "extensions": "{}"}),
    ("number query", {"query": 1}),
    ("no query", {"qeury": "{ __typename }"}),
])
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_json_that_is_not_a_graphql_request_is_400(api: Api, name: str, body: object, accept: str) -> None:
    _refusal(await _post(api, body, accept), 400)


async def test_other_methods_are_405_with_allow(api: Api) -> None:
    response = await api.http.request("HEAD", "/graphql", params={"query": "{ __typename }"})
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "*/*", "multipart/mixed;subscriptionSpec=1.0",
                                    "text/event-stream"])
async def test_a_mutation_over_get_is_405_and_not_run(api: Api, container: Container, accept: str) -> None:
    response = await api.http.get("/graphql", params={"query": 'mutation { discontinueProduct(input: {id: "x"}) '
                                                                "{ __typename } }"},
                                  headers={"accept": accept})
    assert "POST" in _refusal(response, 405)
    assert response.headers["allow"] == "POST"
    assert await container.outbox.head() == 0


async def test_get_treats_empty_optional_parameters_as_absent(api: Api) -> None:
    response = await api.http.get("/graphql", params={"query": SYNC_STATUS, "variables": "", "operationName": "",
                                                      "extensions": ""}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200 and response.json()["data"]["syncStatus"]["headPosition"] == "0"


@pytest.mark.parametrize(("method", "accept"), [
    ("POST", None), ("POST", "application/json"), ("POST", GRAPHQL_RESPONSE), ("POST", "*/*"),
    ("POST", "multipart/mixed;deferSpec=20220824, application/json"), ("GET", "application/json"),
])
async def test_a_subscription_without_a_stream_is_refused_with_how_to_subscribe(
    api: Api, method: str, accept: str | None
) -> None:
    headers = {"accept": accept} if accept else {}
    if method == "GET":
        response = await api.http.get("/graphql", params={"query": PRODUCT_CHANGED}, headers=headers)
    else:
        response = await api.http.post("/graphql", json={"query": PRODUCT_CHANGED}, headers=headers)
    message = _refusal(response, 400)
    assert "WebSocket" in message and "multipart/mixed;subscriptionSpec=1.0" in message
    assert "Traceback" not in response.text
