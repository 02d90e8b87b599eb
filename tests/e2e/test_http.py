"""HTTP behaviour of the endpoint: GET for queries only, health and readiness."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from server.settings import Settings
from tests.e2e.operations import SYNC_STATUS
from tests.support import Api, running_server, unused_port


async def test_queries_may_use_get(api: Api) -> None:
    response = await api.http.get("/graphql", params={"query": "{ products { totalCount } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"products": {"totalCount": 0}}}


async def test_mutations_may_not_use_get(api: Api) -> None:
    mutation = 'mutation { discontinueProduct(input: {id: "x"}) { __typename } }'
    response = await api.http.get("/graphql", params={"query": mutation})
    # The GraphQL-over-HTTP draft: 405 with `Allow`, whatever the Accept.
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await api(SYNC_STATUS))["syncStatus"]["headPosition"] == "0"


async def test_a_body_that_is_not_json_is_a_clear_400(api: Api) -> None:
    response = await api.http.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.text


async def test_health_and_readiness_when_everything_answers(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.fixture
async def server_without_elasticsearch(settings: Settings) -> AsyncIterator[str]:
    dead = settings.model_copy(update={"elasticsearch_url": f"http://127.0.0.1:{unused_port()}"})
    async with running_server(dead, run_worker=False, clean_up=False) as (url, _app):
        yield url


async def test_a_dead_elasticsearch_makes_reads_fail_clearly_and_readiness_say_why(
    server_without_elasticsearch: str,
) -> None:
    async with httpx.AsyncClient(base_url=server_without_elasticsearch, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["reasons"][0].startswith("elasticsearch: ")
        body = (await client.post("/graphql", json={"query": "{ products { totalCount } }"})).json()
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "Traceback" not in str(body)
        created = (await client.post("/graphql", json={"query": (
            'mutation { createProduct(input: {sku: "S", name: "n", category: "c", price: "1"}) '
            "{ __typename ... on ProductAccepted { position } } }")})).json()
        assert created["data"]["createProduct"] == {"__typename": "ProductAccepted", "position": "1"}


async def test_graphiql_is_served_with_all_its_files_from_this_server(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "<title>Strawberry GraphiQL</title>" in page.text
    assert "unpkg.com" not in page.text  # nothing is fetched from the internet
    assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"', page.text)
    assert len(assets) == 7
    for asset in assets:
        response = await api.http.get(asset)
        assert response.status_code == 200 and len(response.content) > 500, asset
    assert (await api.http.get("/graphiql-assets/graphiql/package.json")).status_code == 404
