"""W1: `createProduct` mutations per second over HTTP (wrk, 16 connections) to `storefront serve
--no-sync`, against the floor of the same stack (bench/floor_server.py: the same mutation doing
nothing) and the storage limit (the same rows with plain sqlite3)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input, product_states
from bench.common.context import Run
from bench.common.graphql import CREATE_PRODUCT, graphql_client
from bench.common.load import Load, Loaded, load, verification, write_bodies
from bench.common.plots import bars
from bench.common.raw_sqlite import database_path, raw_rate, row_count
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_least
from bench.common.server import Served, serve, serve_floor
from bench.common.wrk import UNIQUE

CONNECTIONS = 16
ACCEPTED = "ProductAccepted"
# Distinct names, descriptions and prices the bodies cycle through; the SKU of every request is unique.
BODIES = 64
BATCH = 16


@dataclass(frozen=True)
class Sizes:
    seconds: int = 15
    warm_up_s: int = 3
    raw_commands: int = 30_000
    raw_time_limit_s: float = 10.0


async def run(run: Run, sizes: Sizes) -> Outcome:
    states = product_states(sizes.raw_commands, seed=61)
    single = await raw_rate(run.settings("w1-raw-1").database_url, states, 1, sizes.raw_time_limit_s)
    batched = await raw_rate(run.settings("w1-raw-16").database_url, states, BATCH, sizes.raw_time_limit_s)
    shape = Load(CONNECTIONS, sizes.seconds, sizes.warm_up_s)
    bodies = write_bodies(run.work / "w1-bodies.txt", CREATE_PRODUCT, _variables())
    async with serve_floor(run.log_path("w1-floor")) as served:
        await _check(served)
        floor = await load(served, bodies, "floor", shape)
    settings = run.settings("w1")
    async with serve(settings, run.log_path("w1"), worker=False, profile_to=run.profile_file("W1-server")) as served:
        await _check(served)
        ours = await load(served, bodies, "ours", shape, partial(row_count, database_path(settings.database_url),
                                                                 "products"))
    return _outcome(run, ours, floor, single, batched)


def _variables() -> list[dict[str, object]]:
    rng = random.Random(1)
    return [{"input": {**product_input(n, rng), "sku": f"W1-{UNIQUE}"}} for n in range(BODIES)]


async def _check(served: Served) -> None:
    """One mutation answered as expected before the load, so that a broken server fails loudly."""
    async with graphql_client(served.graphql_url, connections=1) as api:
        answer = await api(CREATE_PRODUCT, {"input": {**product_input(0, random.Random(0)), "sku": "W1-check"}})
    if answer["createProduct"]["__typename"] != ACCEPTED:
        raise RuntimeError(f"createProduct was refused: {answer}")


def _outcome(run: Run, ours: Loaded, floor: Loaded, single: tuple[int, float], batched: tuple[int, float]
             ) -> Outcome:
    rate, floor_rate = ours.accepted(ACCEPTED) / ours.wrk.seconds, floor.accepted(ACCEPTED) / floor.wrk.seconds
    single_rate, batched_rate = single[0] / single[1], batched[0] / batched[1]
    problem = verification(ours, ACCEPTED, CONNECTIONS) or verification(floor, ACCEPTED, CONNECTIONS)
    outcome = Outcome(rows=[
        Row("W1", "createProduct throughput vs the stack's floor", "mutations/s", rate, floor_rate,
            ratio_at_least(0.6), problem),
        Row("W1", "createProduct vs raw sqlite3, 1 command a transaction", "mutations/s", rate, single_rate,
            REPORT_ONLY),
        Row("W1", f"createProduct vs raw sqlite3, {BATCH} commands a transaction", "mutations/s", rate,
            batched_rate, REPORT_ONLY),
        Row("W1", "createProduct latency p99 (wrk)", "ms", ours.wrk.latency_ms[99], floor.wrk.latency_ms[99],
            REPORT_ONLY),
        Row("W1", "API CPU per createProduct", "ms", ours.cpu_ms_per(ACCEPTED), floor.cpu_ms_per(ACCEPTED),
            REPORT_ONLY),
        Row("W1", "API RSS after the load", "KB", ours.rss_kib, floor.rss_kib, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Load: wrk, one thread, {CONNECTIONS} connections, closed loop, {ours.wrk.seconds:.0f} s after a warm-up "
        f"run; every request has its own SKU. Ours: `storefront serve --no-sync`: {ours.wrk.summary()}; "
        f"{ours.written:,} products written (counted in its SQLite file).",
        f"Floor: `bench/floor_server.py` (uvicorn + starlette + strawberry, ParserCache and ValidationCache, the "
        f"same `createProduct` signature and union, doing nothing): {floor.wrk.summary()}.",
        f"Raw sqlite3: per command a product row, the outbox head bump and the outbox row, one connection, WAL, "
        f"synchronous=NORMAL: {single[0]:,} commands one transaction each in {single[1]:.2f} s; {batched[0]:,} "
        f"commands {BATCH} to a transaction (a savepoint each) in {batched[1]:.2f} s.",
        f"CPU: the server process's utime + stime (/proc/<pid>/stat) over the measured run, divided by the "
        f"accepted mutations: ours {ours.cpu_s:.1f} s, floor {floor.cpu_s:.1f} s. RSS: VmRSS right after it.",
    ]
    outcome.plots.append(bars(run.out / "w1-throughput.png", "W1: createProduct per second, 16 connections", {
        "ours (storefront serve --no-sync)": rate, "baseline (the stack's floor)": floor_rate,
        "raw sqlite3, 1 a transaction": single_rate, f"raw sqlite3, {BATCH} a transaction": batched_rate,
    }, "per second"))
    return outcome


BENCHMARK = Benchmark("W1", "createProduct throughput", full=Sizes(),
                      smoke=Sizes(seconds=1, warm_up_s=1, raw_commands=1_000, raw_time_limit_s=2.0), run=run)
