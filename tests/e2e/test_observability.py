"""What an operator sees: /metrics and a readiness check that notices a stalled worker."""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server.settings import Settings
from tests.e2e.operations import CREATE_PRODUCT, PRODUCT
from tests.support import Api, running_server, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _samples(http: httpx.AsyncClient) -> Samples:
    text = (await http.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


async def _sampled_caught_up(http: httpx.AsyncClient, head: int) -> Samples | None:
    """The metrics, once the sampler has seen the read model caught up with the write at `head`."""
    samples = await _samples(http)
    sampled = samples[("storefront_sync_head_position", ())], samples[("storefront_sync_lag_events", ())]
    return samples if sampled == (head, 0) else None


async def test_metrics_show_indexing_and_requests(api: Api) -> None:
    created = (await api(CREATE_PRODUCT, {"input": {"sku": "M-1", "name": "Meter", "category": "c", "price": "3"}}))
    await api(PRODUCT, {"id": created["createProduct"]["id"], "consistentWith": created["createProduct"]["position"]})
    # The sampler sets the gauges once a second: wait for a sample taken after the write was indexed.
    samples = await wait_until(lambda: _sampled_caught_up(api.http, 1), 10, "a sample of head 1 with no lag")
    assert samples[("storefront_sync_events_indexed_total", ())] >= 1
    assert samples[("storefront_sync_batch_seconds_count", ())] >= 1
    assert samples[("storefront_sync_dead_letters", ())] == 0
    assert samples[("storefront_sync_lease_held", ())] == 1
    requests = ("storefront_http_requests_total", (("method", "POST"), ("path", "/graphql"), ("status", "200")))
    assert samples[requests] >= 2
    assert samples[("storefront_write_transactions_total", ())] >= 1  # the product's, and the worker's bookkeeping


async def test_metrics_count_the_write_transactions(api: Api) -> None:
    before = (await _samples(api.http))[("storefront_write_transactions_total", ())]
    await api(CREATE_PRODUCT, {"input": {"sku": "T-1", "name": "Tally", "category": "c", "price": "1"}})
    after = (await _samples(api.http))[("storefront_write_transactions_total", ())]
    assert after >= before + 1


async def _create_one_product(http: httpx.AsyncClient) -> None:
    created = await http.post("/graphql", json={"query": CREATE_PRODUCT, "variables": {
        "input": {"sku": "S-1", "name": "Stuck", "category": "c", "price": "1"}}})
    assert created.json()["data"]["createProduct"]["__typename"] == "ProductAccepted", created.text


async def _once_stalled(http: httpx.AsyncClient) -> httpx.Response:
    async def stalled() -> httpx.Response | None:
        ready = await http.get("/readyz")
        body = ready.json()
        return ready if any("sync worker stalled" in line for line in body.get("reasons", body.get("warnings", []))) \
            else None

    return await wait_until(stalled, 10, "readiness to report a stalled worker")


async def test_a_process_whose_worker_cannot_index_is_not_ready(settings: Settings) -> None:
    """Its worker is alive but a hung holder keeps the lease: events wait and nothing indexes them."""
    quick_to_worry = settings.model_copy(update={"sync_stall_after_s": 1.0})
    async with running_server(quick_to_worry) as (url, app), httpx.AsyncClient(base_url=url, timeout=30) as http:
        assert (await http.get("/readyz")).status_code == 200  # idle with no lag is healthy
        container = app.state.container
        await container.tracking.lease("hung-worker", timedelta(seconds=300)).take_over(timedelta(seconds=30))
        await _create_one_product(http)

        ready = await _once_stalled(http)
        assert ready.status_code == 503
        [reason] = ready.json()["reasons"]
        assert reason.startswith("sync worker stalled: 1 events waiting, no progress for")


async def test_an_api_process_without_a_worker_names_the_stall_and_stays_in_service(settings: Settings) -> None:
    """`serve --no-sync` behind a load balancer: the stall is elsewhere, and so is its cure."""
    quick_to_worry = settings.model_copy(update={"sync_stall_after_s": 1.0})
    async with (running_server(quick_to_worry, run_worker=False) as (url, _app),
                httpx.AsyncClient(base_url=url, timeout=30) as http):
        assert (await http.get("/readyz")).json() == {"status": "ready"}
        await _create_one_product(http)

        ready = await _once_stalled(http)
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        [warning] = body["warnings"]
        assert warning.startswith("sync worker stalled: 1 events waiting, no progress for")
