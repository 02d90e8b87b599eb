"""The project's Elasticsearch node is stopped for 30 s under a stream of mutations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from devtools.elasticsearch import node as dev_elasticsearch
from devtools.project import Project
from server.bootstrap import Container
from tests.e2e.operations import CREATE_PRODUCT, SEARCH_PRODUCTS, SYNC_STATUS
from tests.support import PROJECT_ROOT, Api, assert_read_model_matches_write_model, wait_until

OUTAGE_S = 30


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def dev_project(es_url: str) -> Iterator[Project]:
    """This test stops and starts the node, so it must be this project's own dev node."""
    project = Project.find(PROJECT_ROOT)
    running = dev_elasticsearch.status(project, _port(es_url))
    if [(node.url, node.pid is not None) for node in running] != [(es_url, True)]:
        pytest.fail(f"{es_url} is not the project's dev node (scripts/test starts one); cannot stop it")
    yield project
    dev_elasticsearch.start(project, _port(es_url))  # whatever happened, the next test gets its node back


async def _lag(api: Api) -> float:
    metrics = (await api.http.get("/metrics")).text
    line = next(line for line in metrics.splitlines() if line.startswith("storefront_sync_lag_events "))
    return float(line.split()[1])


async def _lag_is(api: Api, lag: float) -> bool:
    return await _lag(api) == lag


async def _create(api: Api, n: int) -> str:
    variables = {"input": {"sku": f"OUT-{n}", "name": f"Outage item {n}", "category": "c", "price": "1.00"}}
    result = (await api(CREATE_PRODUCT, variables))["createProduct"]
    assert result["__typename"] == "ProductAccepted"
    position: str = result["position"]
    return position


async def test_an_outage_is_ridden_out_and_nothing_is_lost(
        api: Api, container: Container, es_url: str, dev_project: Project) -> None:
    port = _port(es_url)
    await api(SEARCH_PRODUCTS, {"consistentWith": await _create(api, 0)})

    await asyncio.to_thread(dev_elasticsearch.stop, dev_project)
    outage_started = time.monotonic()
    lags, n = [], 1
    while time.monotonic() - outage_started < OUTAGE_S:
        await _create(api, n)  # writes keep being accepted
        n += 1
        lags.append(await _lag(api))
        await asyncio.sleep(0.25)  # the workload's pace: a write every quarter second through the outage
    failed_read = await api.raw("{ products { totalCount } }")
    ready = await api.http.get("/readyz")
    await asyncio.to_thread(dev_elasticsearch.start, dev_project, port)

    assert failed_read["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in str(failed_read)
    assert ready.status_code == 503 and any(r.startswith("elasticsearch") for r in ready.json()["reasons"])
    assert max(lags) >= n - 10, f"the lag metric must rise while nothing can be indexed: {lags}"

    async def caught_up() -> bool:
        return bool((await api(SYNC_STATUS))["syncStatus"]["lag"] == 0)

    await wait_until(caught_up, 60, "the worker to catch up on its own")
    # The sampler refreshes the gauge every second; it must come down to 0 too.
    await wait_until(lambda: _lag_is(api, 0), 10, "the lag metric back at 0")
    found = await api(SEARCH_PRODUCTS, {"search": "outage", "first": 1})
    assert found["products"]["totalCount"] == n
    await assert_read_model_matches_write_model(container)
