"""What an operator sees: /metrics and a readiness check that notices a stalled worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
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


@pytest.fixture
async def server_without_worker(settings: Settings) -> AsyncIterator[str]:
    quick_to_worry = settings.model_copy(update={"sync_stall_after_s": 1.0})
    async with running_server(quick_to_worry, run_worker=False) as (url, _app):
        yield url


async def test_readiness_fails_when_events_wait_and_nothing_indexes_them(server_without_worker: str) -> None:
    async with httpx.AsyncClient(base_url=server_without_worker, timeout=30) as http:
        assert (await http.get("/readyz")).status_code == 200  # idle with no lag is healthy
        await http.post("/graphql", json={"query": CREATE_PRODUCT, "variables": {
            "input": {"sku": "S-1", "name": "Stuck", "category": "c", "price": "1"}}})

        async def not_ready() -> httpx.Response | None:
            ready = await http.get("/readyz")
            return ready if ready.status_code != 200 else None

        ready = await wait_until(not_ready, 10, "a stalled worker to fail readiness")
        assert ready.status_code == 503
        [reason] = ready.json()["reasons"]
        assert reason.startswith("sync worker stalled: 1 events waiting, no progress for")
