"""B7: `placeOrder` with three lines from 16 concurrent clients, all ordering from a few hot
products, against the B6 write baseline. Reported, no target."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.graphql import CREATE_PRODUCT, PLACE_ORDER, REGISTER_CUSTOMER, GraphQL, graphql_client
from bench.common.measure import Throughput, closed_loop
from bench.common.plots import bars
from bench.common.raw_writes import raw_insert_rate
from bench.common.results import REPORT_ONLY, Outcome, Row
from bench.common.server import serve

CLIENTS = 16
LINES = 3
WARM_UP = 20
# Enough stock that contention, not running out, is what the clients meet.
STOCK = 1_000_000


@dataclass(frozen=True)
class Sizes:
    orders: int
    hot_products: int = 5
    baseline_transactions: int = 4_000
    time_limit_s: float = 20.0


async def run(run: Run, sizes: Sizes) -> Outcome:
    baseline = await raw_insert_rate(run.settings("b7-raw").database_url, CLIENTS, sizes.baseline_transactions,
                                     sizes.time_limit_s)
    ours, outcomes = await _ours(run, sizes)
    outcome = Outcome(rows=[Row("B7", "placeOrder (3 lines, hot products)", "orders/s", ours.per_second,
                                baseline.per_second, REPORT_ONLY)])
    results = ", ".join(f"{count:,} {name}" for name, count in outcomes.most_common())
    outcome.notes += [
        f"Ours: {ours.done:,} `placeOrder` mutations of {LINES} lines each, over HTTP from {CLIENTS} clients (one "
        f"customer each) to `storefront serve --no-sync`, every line drawn from the same {sizes.hot_products} "
        f"products, in {ours.seconds:.1f} s ({results}); latency {ours.latencies.summary()}. Each order writes "
        f"{LINES + 1} events (a StockReserved per line and OrderPlaced) and reads the customer's order totals.",
        f"Baseline (the B6 one): {baseline.per_second:,.0f} raw product + outbox transactions/s.",
    ]
    outcome.plots.append(bars(run.out / "b7-throughput.png", "B7: placeOrder against raw inserts, 16 clients",
                              {"ours (placeOrder over HTTP)": ours.per_second,
                               "baseline (raw SQLAlchemy)": baseline.per_second}, "per second"))
    return outcome


async def _ours(run: Run, sizes: Sizes) -> tuple[Throughput, Counter[str]]:
    rng = random.Random(7)
    outcomes: Counter[str] = Counter()
    async with (serve(run.settings("b7"), run.log_path("b7"), worker=False,
                      profile_to=run.profile_file("B7-server")) as served,
                graphql_client(served.graphql_url, connections=CLIENTS) as api):
        products = [await _product(api, n, rng) for n in range(sizes.hot_products)]
        customers = [await _customer(api, n) for n in range(CLIENTS)]

        async def place(n: int) -> None:
            lines = [{"productId": product, "quantity": 1} for product in rng.sample(products, LINES)]
            result = await api(PLACE_ORDER, {"input": {"customerId": customers[n % CLIENTS], "lines": lines}})
            outcomes[result["placeOrder"]["__typename"]] += 1

        await closed_loop(CLIENTS, WARM_UP, sizes.time_limit_s, place)
        outcomes.clear()
        return await closed_loop(CLIENTS, sizes.orders, sizes.time_limit_s, place), outcomes


async def _product(api: GraphQL, n: int, rng: random.Random) -> str:
    given = {**product_input(n, rng, "B7"), "initialStock": STOCK}
    product_id: str = (await api(CREATE_PRODUCT, {"input": given}))["createProduct"]["id"]
    return product_id


async def _customer(api: GraphQL, n: int) -> str:
    given = {"email": f"b7-{n}@bench.test", "name": f"Customer {n}"}
    customer_id: str = (await api(REGISTER_CUSTOMER, {"input": given}))["registerCustomer"]["id"]
    return customer_id


BENCHMARK = Benchmark("B7", "placeOrder under contention", full=Sizes(orders=2_000),
                      smoke=Sizes(orders=100, baseline_transactions=300, time_limit_s=10.0), run=run)
