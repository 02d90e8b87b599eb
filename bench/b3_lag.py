"""B3: commit -> searchable lag at a steady mutation rate, with the worker in the API process,
against Elasticsearch's own refresh cost: indexing one document with `refresh=wait_for`."""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch

from bench.common.benchmark import Benchmark
from bench.common.catalog import CURRENCY, product_input, product_state
from bench.common.context import Run
from bench.common.elastic import products_index
from bench.common.graphql import CREATE_PRODUCT, PRODUCT_CHANGED, Listener, graphql_client, open_subscription
from bench.common.measure import Latencies, Throughput, paced, wait_until
from bench.common.plots import latency_cdf, scatter
from bench.common.results import REPORT_ONLY, Outcome, Row, scaled_at_most
from bench.common.server import SUBSCRIPTIONS_OPEN, serve, wait_for_gauge
from sync.projections import product_document

WARM_UP = 20
# Unanswered mutations allowed before the schedule waits: enough for 200/s at 300 ms each, and few
# enough that SQLite writers do not pile up behind its busy handler.
MAX_IN_FLIGHT = 64
NOTIFICATION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Sizes:
    rate: float = 200.0
    seconds: float = 15.0
    # At 200/s the baseline's requests, each open for up to a second, would make this process's
    # own client the bottleneck; 50/s samples the same refresh wait without that.
    baseline_rate: float = 50.0
    baseline_seconds: float = 5.0


async def run(run: Run, sizes: Sizes) -> Outcome:
    ours, load, since_start = await _ours(run, sizes)
    baseline = await _baseline(run, sizes)
    lost = load.done - len(ours.seconds)
    outcome = Outcome(rows=[
        Row("B3", "commit -> searchable lag p99", "ms", ours.p99_ms, baseline.p99_ms, scaled_at_most(3, 50, "ms"),
            f"{lost:,} changes never notified" if lost else None),
        Row("B3", "commit -> searchable lag p50", "ms", ours.p50_ms, baseline.p50_ms, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Ours: `createProduct` over HTTP paced at {sizes.rate:g}/s for {sizes.seconds:g} s (achieved "
        f"{load.per_second:,.0f}/s; mutation latency {load.latencies.summary()}) against `storefront serve` "
        "with its in-process worker. Lag = arrival of the `productChanged` notification for the mutation's "
        "position minus arrival of the mutation's response, 0 when the notification came first. The feed "
        "notifies after the refresh, so this is an upper bound on commit -> searchable.",
        f"Ours: {ours.summary()}.",
        f"Baseline: `index(refresh='wait_for')` of one product document, paced at {sizes.baseline_rate:g}/s for "
        f"{sizes.baseline_seconds:g} s: {baseline.summary()}. It waits for the index's periodic refresh "
        "(every second by default).",
    ]
    outcome.plots += [
        latency_cdf(run.out / "b3-lag.png", "B3: commit -> searchable",
                    {"ours (commit -> notified)": ours.ms, "baseline (index, refresh=wait_for)": baseline.ms}),
        scatter(run.out / "b3-lag-over-time.png", "B3: lag of each mutation over the run", since_start, ours.ms,
                "seconds into the run", "lag (ms)"),
    ]
    return outcome


async def _ours(run: Run, sizes: Sizes) -> tuple[Latencies, Throughput, list[float]]:
    """Lags, the load's own figures, and when (seconds into the run) each measured mutation answered."""
    rng = random.Random(3)
    answered: dict[int, float] = {}
    async with (serve(run.settings("b3"), run.log_path("b3"), worker=True,
                      profile_to=run.profile_file("B3-server")) as served,
                graphql_client(served.graphql_url, connections=MAX_IN_FLIGHT) as api):
        listener = Listener(await open_subscription(served.ws_url, PRODUCT_CHANGED))
        try:
            await wait_for_gauge(api.session, served.url, SUBSCRIPTIONS_OPEN, 1)

            async def create(n: int) -> None:
                result = await api(CREATE_PRODUCT, {"input": product_input(n, rng, "B3")})
                answered[int(result["createProduct"]["position"])] = time.perf_counter()

            for n in range(WARM_UP):
                await create(n)
            started = time.perf_counter()
            load = await paced(sizes.rate, sizes.seconds, lambda n: create(WARM_UP + n), MAX_IN_FLIGHT)
            with contextlib.suppress(TimeoutError):  # what never arrived is reported as lost
                await wait_until(lambda: len(listener.arrivals) >= len(answered), NOTIFICATION_TIMEOUT_S,
                                 "a notification for every mutation")
        finally:
            await listener.close()
    notified = {position: arrival for arrival, message in listener.arrivals if (position := _position(message))}
    measured = sorted(position for position in answered if position > WARM_UP and position in notified)
    lags = [max(0.0, notified[position] - answered[position]) for position in measured]
    return Latencies(lags), load, [answered[position] - started for position in measured]


def _position(message: str) -> int | None:
    """The position a notification is for; None for other protocol messages."""
    body: dict[str, Any] = json.loads(message)
    return int(body["payload"]["data"]["productChanged"]["position"]) if body.get("type") == "next" else None


async def _baseline(run: Run, sizes: Sizes) -> Latencies:
    # Each request waits up to a second: at the paced rate that is up to `baseline_rate` requests in
    # flight, each on its own connection, so neither the schedule nor the client's pool holds them back.
    in_flight = int(sizes.baseline_rate * 2)
    async with AsyncElasticsearch(run.es_url, connections_per_node=in_flight, request_timeout=60) as client:
        alias = await products_index(client, f"{run.run_id}-b3-raw")
        rng = random.Random(33)

        async def index(n: int) -> None:
            state = product_state(n, rng)
            await client.index(index=alias, id=state["id"], document=product_document(state, CURRENCY),
                               refresh="wait_for")

        return (await paced(sizes.baseline_rate, sizes.baseline_seconds, index, in_flight)).latencies


BENCHMARK = Benchmark("B3", "commit -> searchable lag", full=Sizes(),
                      smoke=Sizes(seconds=2.0, baseline_seconds=1.0), run=run)
