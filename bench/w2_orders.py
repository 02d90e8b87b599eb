"""W2: `placeOrder` with three lines over five hot products per second over HTTP (wrk, 16
connections) to `storefront serve --no-sync`, against the stack's floor answering the same
requests (bench/floor_server.py). Orders refused for stock are reported, not counted."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

import aiohttp

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.graphql import CREATE_PRODUCT, PLACE_ORDER, REGISTER_CUSTOMER, GraphQL, graphql_client
from bench.common.load import Load, Loaded, load, verification, write_bodies
from bench.common.plots import bars
from bench.common.raw_sqlite import database_path, row_count
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_least
from bench.common.server import Served, serve, serve_floor

CONNECTIONS = 16
LINES = 3
ACCEPTED = "OrderAccepted"
REFUSED = "InsufficientStockError"
# Enough stock that contention on the hot rows, not running out, is what the orders meet.
STOCK = 10_000_000
# Orders (customer, three of the hot products) the bodies cycle through.
BODIES = 160


@dataclass(frozen=True)
class Sizes:
    seconds: int = 15
    warm_up_s: int = 3
    hot_products: int = 5
    customers: int = 16


async def run(run: Run, sizes: Sizes) -> Outcome:
    shape = Load(CONNECTIONS, sizes.seconds, sizes.warm_up_s)
    settings = run.settings("w2")
    async with serve(settings, run.log_path("w2"), worker=False, profile_to=run.profile_file("W2-server")) as served:
        async with graphql_client(served.graphql_url, connections=1) as api:
            products = [await _product(api, n) for n in range(sizes.hot_products)]
            customers = [await _customer(api, n) for n in range(sizes.customers)]
        bodies = write_bodies(run.work / "w2-bodies.txt", PLACE_ORDER, _variables(products, customers))
        await _check(served, bodies.read_text().splitlines()[0])
        ours = await load(served, bodies, "ours", shape, partial(row_count, database_path(settings.database_url),
                                                                 "orders"))
    async with serve_floor(run.log_path("w2-floor")) as served:
        await _check(served, bodies.read_text().splitlines()[0])
        floor = await load(served, bodies, "floor", shape)
    return _outcome(run, ours, floor, sizes)


def _variables(products: list[str], customers: list[str]) -> list[dict[str, object]]:
    rng = random.Random(2)
    return [{"input": {"customerId": customers[n % len(customers)],
                       "lines": [{"productId": product, "quantity": 1} for product in rng.sample(products, LINES)]}}
            for n in range(BODIES)]


async def _product(api: GraphQL, n: int) -> str:
    given = {**product_input(n, random.Random(n)), "sku": f"W2-{n}", "initialStock": STOCK}
    product_id: str = (await api(CREATE_PRODUCT, {"input": given}))["createProduct"]["id"]
    return product_id


async def _customer(api: GraphQL, n: int) -> str:
    given = {"email": f"w2-{n}@bench.test", "name": f"Customer {n}"}
    customer_id: str = (await api(REGISTER_CUSTOMER, {"input": given}))["registerCustomer"]["id"]
    return customer_id


async def _check(served: Served, body: str) -> None:
    """The first body answered as an accepted order before the load."""
    async with (aiohttp.ClientSession() as session,
                session.post(served.graphql_url, data=body, headers={"Content-Type": "application/json"}) as response):
        answer = await response.json()
    if answer.get("data", {}).get("placeOrder", {}).get("__typename") != ACCEPTED:
        raise RuntimeError(f"placeOrder was refused: {answer}")


def _outcome(run: Run, ours: Loaded, floor: Loaded, sizes: Sizes) -> Outcome:
    rate, floor_rate = ours.accepted(ACCEPTED) / ours.wrk.seconds, floor.accepted(ACCEPTED) / floor.wrk.seconds
    answered = (ours.accepted(ACCEPTED) + ours.wrk.answers[REFUSED]) / ours.wrk.seconds
    problem = (verification(ours, ACCEPTED, CONNECTIONS, frozenset({REFUSED}))
               or verification(floor, ACCEPTED, CONNECTIONS))
    outcome = Outcome(rows=[
        Row("W2", "placeOrder accepted vs the stack's floor", "orders/s", rate, floor_rate, ratio_at_least(0.4),
            problem),
        Row("W2", "placeOrder answered (accepted + refused for stock)", "orders/s", answered, floor_rate,
            REPORT_ONLY),
        Row("W2", "placeOrder latency p99 (wrk)", "ms", ours.wrk.latency_ms[99], floor.wrk.latency_ms[99],
            REPORT_ONLY),
        Row("W2", "API CPU per accepted order", "ms", ours.cpu_ms_per(ACCEPTED), floor.cpu_ms_per(ACCEPTED),
            REPORT_ONLY),
        Row("W2", "API RSS after the load", "KB", ours.rss_kib, floor.rss_kib, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Load: wrk, one thread, {CONNECTIONS} connections, closed loop, {ours.wrk.seconds:.0f} s after a warm-up "
        f"run. Each order has {LINES} lines (quantity 1) drawn from the same {sizes.hot_products} products "
        f"(stock {STOCK:,} each) for one of {sizes.customers} customers, so every order contends for the same "
        f"rows. Each writes an order row, {LINES} stock updates and {LINES + 1} events.",
        f"Ours: `storefront serve --no-sync`: {ours.wrk.summary()}; {ours.written:,} orders written (counted in its "
        f"SQLite file); {ours.wrk.answers[REFUSED]:,} refused for stock, which do not count as throughput.",
        f"Floor: `bench/floor_server.py` answering the same requests with an OrderAccepted, doing nothing: "
        f"{floor.wrk.summary()}.",
        f"CPU: the server process's utime + stime over the measured run per accepted order: ours {ours.cpu_s:.1f} s, "
        f"floor {floor.cpu_s:.1f} s.",
    ]
    outcome.plots.append(bars(run.out / "w2-throughput.png", "W2: placeOrder per second, 16 connections", {
        "ours (accepted orders)": rate, "baseline (the stack's floor)": floor_rate,
    }, "per second"))
    return outcome


BENCHMARK = Benchmark("W2", "placeOrder on hot products", full=Sizes(), smoke=Sizes(seconds=1, warm_up_s=1), run=run)
