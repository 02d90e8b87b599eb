"""B6: `createProduct` mutations per second over HTTP from 16 concurrent clients, against plain
SQLAlchemy inserts of a product row and its outbox row per transaction on the same SQLite setup."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.graphql import CREATE_PRODUCT, graphql_client
from bench.common.measure import Throughput, closed_loop
from bench.common.plots import bars, latency_cdf
from bench.common.raw_writes import raw_insert_rate
from bench.common.results import Outcome, Row, ratio_at_least
from bench.common.server import serve

CLIENTS = 16
WARM_UP = 50


@dataclass(frozen=True)
class Sizes:
    mutations: int
    baseline_transactions: int
    time_limit_s: float = 20.0


async def run(run: Run, sizes: Sizes) -> Outcome:
    baseline = await raw_insert_rate(run.settings("b6-raw").database_url, CLIENTS, sizes.baseline_transactions,
                                     sizes.time_limit_s)
    ours = await _ours(run, sizes)
    outcome = Outcome(rows=[Row("B6", "createProduct throughput", "mutations/s", ours.per_second,
                                baseline.per_second, ratio_at_least(0.5))])
    outcome.notes += [
        f"Ours: {ours.done:,} `createProduct` mutations over HTTP from {CLIENTS} concurrent clients to "
        f"`storefront serve --no-sync` (the write path alone) in {ours.seconds:.1f} s; latency "
        f"{ours.latencies.summary()}.",
        f"Baseline: {baseline.done:,} transactions by {CLIENTS} concurrent tasks, each inserting a product row, "
        "bumping the outbox head and inserting the outbox row with SQLAlchemy Core on "
        f"`write_model.database.open_database` (WAL, BEGIN IMMEDIATE), in {baseline.seconds:.1f} s; latency "
        f"{baseline.latencies.summary()}.",
    ]
    outcome.plots += [
        bars(run.out / "b6-throughput.png", "B6: writes per second, 16 clients",
             {"ours (createProduct over HTTP)": ours.per_second, "baseline (raw SQLAlchemy)": baseline.per_second},
             "per second"),
        latency_cdf(run.out / "b6-latency.png", "B6: latency of one write, 16 clients",
                    {"ours (createProduct over HTTP)": ours.latencies.ms,
                     "baseline (raw SQLAlchemy)": baseline.latencies.ms}),
    ]
    return outcome


async def _ours(run: Run, sizes: Sizes) -> Throughput:
    rng = random.Random(6)
    async with (serve(run.settings("b6"), run.log_path("b6"), worker=False,
                      profile_to=run.profile_file("B6-server")) as served,
                graphql_client(served.graphql_url, connections=CLIENTS) as api):

        async def create(n: int) -> None:
            result = await api(CREATE_PRODUCT, {"input": product_input(n, rng, "B6")})
            if result["createProduct"]["__typename"] != "ProductAccepted":
                raise RuntimeError(f"createProduct was refused: {result}")

        await closed_loop(CLIENTS, WARM_UP, sizes.time_limit_s, create)
        return await closed_loop(CLIENTS, sizes.mutations, sizes.time_limit_s, lambda n: create(WARM_UP + n))


BENCHMARK = Benchmark("B6", "createProduct throughput", full=Sizes(mutations=3_000, baseline_transactions=6_000),
                      smoke=Sizes(mutations=200, baseline_transactions=400, time_limit_s=10.0), run=run)
