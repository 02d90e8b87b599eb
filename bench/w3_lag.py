"""W3: default `storefront serve` (in-process sync worker) at 200 `createProduct`/s offered: does
it keep up, and how long from commit to the `productChanged` notification, against the raw path
of the same change: a sqlite3 transaction, a bulk index with `refresh=true`, reading it back.
P2 (`p2_postgres_lag.py`) measures the same on PostgreSQL with this module's `lag_outcome`."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
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
from bench.common.raw_sqlite import RawWriter
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_least, ratio_at_most
from bench.common.server import SUBSCRIPTIONS_OPEN, cpu_seconds, rss_kib, serve, wait_for_gauge
from server.settings import Settings
from sync.projections import product_document

WARM_UP = 20
# Unanswered mutations allowed before the schedule waits: enough for 200/s at 300 ms each.
MAX_IN_FLIGHT = 64
NOTIFICATION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Sizes:
    rate: float = 200.0
    seconds: float = 15.0
    baseline_changes: int = 200


@dataclass(frozen=True)
class Ours:
    lags: Latencies
    load: Throughput
    # When (seconds into the run) each measured mutation was answered, for the scatter plot.
    since_start: list[float]
    cpu_s: float
    rss_kib: int


# Commits one change's rows (product, outbox head, outbox row) on the baseline's store.
Commit = Callable[[dict[str, Any]], Awaitable[None]]


async def run(run: Run, sizes: Sizes) -> Outcome:
    writer = await RawWriter.create(run.settings("w3-raw").database_url)

    async def commit(state: dict[str, Any]) -> None:
        writer.command(state)

    try:
        return await lag_outcome(run, sizes, "W3", run.settings("w3"), commit, "sqlite3")
    finally:
        writer.close()


async def lag_outcome(run: Run, sizes: Sizes, benchmark: str, settings: Settings, commit: Commit, store: str
                      ) -> Outcome:
    """Ours on `settings`' write model, then the baseline committing with `commit` on `store`."""
    name = benchmark.lower()
    ours = await _ours(run, sizes, settings, benchmark)
    baseline = await _baseline(run, sizes, f"{name}-raw", commit)
    lost = ours.load.done - len(ours.lags.seconds)
    offered = int(sizes.rate * sizes.seconds)
    outcome = Outcome(rows=[
        Row(benchmark, f"createProduct at {sizes.rate:g}/s offered, achieved", "mutations/s", ours.load.per_second,
            sizes.rate, ratio_at_least(0.95)),
        Row(benchmark, "commit -> productChanged p99", "ms", ours.lags.p99_ms, baseline.p99_ms, ratio_at_most(5),
            f"{lost:,} changes never notified" if lost else None),
        Row(benchmark, "commit -> productChanged p50", "ms", ours.lags.p50_ms, baseline.p50_ms, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Ours: {offered:,} `createProduct` over HTTP paced open-loop at {sizes.rate:g}/s (at most {MAX_IN_FLIGHT} "
        f"unanswered) against `storefront serve` with its in-process worker; {ours.load.done:,} answered in "
        f"{ours.load.seconds:.1f} s, mutation latency {ours.load.latencies.summary()}. The sender is this "
        "process, not wrk: the lag needs each response's arrival on the same clock as the notifications', and "
        "wrk's `delay()` only spaces a connection's requests after its last answer (a closed loop that slows "
        "down with the server, hiding the queue).",
        f"Ours: lag = arrival of the `productChanged` notification for the mutation's position minus arrival of "
        f"its response (the commit precedes the response; 0 when the notification came first): "
        f"{ours.lags.summary()}.",
        f"API process over the paced run: {ours.cpu_s:.1f} s CPU (utime + stime), "
        f"{1000 * ours.cpu_s / max(1, ours.load.done):.2f} ms per mutation, worker included; RSS "
        f"{ours.rss_kib / 1024:.0f} MiB after it.",
        f"Baseline: {sizes.baseline_changes:,} changes one after another (after {WARM_UP} not counted), each a "
        f"{store} transaction (product row, outbox head, outbox row), then a bulk index of its projected document "
        f"with refresh=true, then a GET of it; lag from the commit to the document read back: {baseline.summary()}. "
        "One at a time: at 200/s a refresh per change queues in Elasticsearch (p50 about 1 s on a 2-core machine), "
        "which would measure that queue rather than the path.",
    ]
    outcome.plots += [
        latency_cdf(run.out / f"{name}-lag.png", f"{benchmark}: commit -> notified",
                    {"ours (commit -> productChanged)": ours.lags.ms,
                     f"baseline ({store}, bulk refresh=true, get)": baseline.ms}),
        scatter(run.out / f"{name}-lag-over-time.png", f"{benchmark}: lag of each mutation over the run",
                ours.since_start,
                ours.lags.ms, "seconds into the run", "lag (ms)"),
    ]
    return outcome


async def _ours(run: Run, sizes: Sizes, settings: Settings, benchmark: str) -> Ours:
    rng = random.Random(3)
    answered: dict[int, float] = {}
    async with (serve(settings, run.log_path(benchmark.lower()), worker=True,
                      profile_to=run.profile_file(f"{benchmark}-server")) as served,
                graphql_client(served.graphql_url, connections=MAX_IN_FLIGHT) as api):
        listener = Listener(await open_subscription(served.ws_url, PRODUCT_CHANGED))
        try:
            await wait_for_gauge(api.session, served.url, SUBSCRIPTIONS_OPEN, 1)

            async def create(n: int) -> None:
                result = await api(CREATE_PRODUCT, {"input": product_input(n, rng, "W3")})
                answered[int(result["createProduct"]["position"])] = time.perf_counter()

            for n in range(WARM_UP):
                await create(n)
            # The warm-up goes the whole way first, as the baseline's does: the worker takes its
            # lease and creates the indices after the server starts, and a fresh index's first bulks
            # are slow; without this the run's first second measured those (lags near 1 s).
            await wait_until(lambda: _notified(listener) >= WARM_UP, NOTIFICATION_TIMEOUT_S,
                             "the warm-up's notifications")
            started, cpu_before = time.perf_counter(), cpu_seconds(served.pid)
            load = await paced(sizes.rate, sizes.seconds, lambda n: create(WARM_UP + n), MAX_IN_FLIGHT)
            cpu = cpu_seconds(served.pid) - cpu_before
            with contextlib.suppress(TimeoutError):  # what never arrived is reported as lost
                await wait_until(lambda: len(listener.arrivals) >= len(answered), NOTIFICATION_TIMEOUT_S,
                                 "a notification for every mutation")
            memory = rss_kib(served.pid)
        finally:
            await listener.close()
    notified = {position: arrival for arrival, message in listener.arrivals if (position := _position(message))}
    measured = sorted(position for position in answered if position > WARM_UP and position in notified)
    lags = [max(0.0, notified[position] - answered[position]) for position in measured]
    return Ours(Latencies(lags), load, [answered[position] - started for position in measured], cpu, memory)


def _notified(listener: Listener) -> int:
    return sum(1 for _, message in listener.arrivals if _position(message) is not None)


def _position(message: str) -> int | None:
    """The position a notification is for; None for other protocol messages."""
    body: dict[str, Any] = json.loads(message)
    return int(body["payload"]["data"]["productChanged"]["position"]) if body.get("type") == "next" else None


async def _baseline(run: Run, sizes: Sizes, name: str, commit: Commit) -> Latencies:
    lags: list[float] = []
    async with AsyncElasticsearch(run.es_url, request_timeout=60) as client:
        alias = await products_index(client, f"{run.run_id}-{name}")
        rng = random.Random(33)
        for n in range(WARM_UP + sizes.baseline_changes):
            state = product_state(n, rng)
            await commit(state)
            committed = time.perf_counter()
            document = product_document(state, CURRENCY)
            indexed = await client.bulk(operations=[{"index": {"_index": alias, "_id": state["id"]}}, document],
                                        refresh=True)
            if indexed["errors"]:
                raise RuntimeError(f"the baseline bulk failed: {indexed}")
            await client.get(index=alias, id=state["id"])
            if n >= WARM_UP:
                lags.append(time.perf_counter() - committed)
    return Latencies(lags)


BENCHMARK = Benchmark("W3", "commit -> notified at 200/s", full=Sizes(),
                      smoke=Sizes(seconds=2.0, baseline_changes=20), run=run)
