"""P1: `createProduct` per second on PostgreSQL through 1 and 3 `storefront serve --no-sync` API
processes (wrk, 16 connections each), against raw asyncpg doing the same inserts (product row and
outbox row, positions from a sequence: no row shared) from as many processes with as many
connections; and what the outbox head-row lock costs, as raw asyncpg with and without it."""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # ships no type information

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.graphql import CREATE_PRODUCT, graphql_client
from bench.common.load import write_bodies
from bench.common.plots import bars
from bench.common.postgres import Cluster, driver_url, private_cluster
from bench.common.raw_postgres import RawRate, prepare, raw_rate
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_least
from bench.common.server import Served, cpu_seconds, gauge, serve
from bench.common.wrk import UNIQUE, WrkResult, wrk
from server.write_metrics import WRITE_TRANSACTIONS
from write_model.database import create_schema, open_database

CONNECTIONS = 16  # wrk's per API process, and the raw writer's per process: the command pool's size
ACCEPTED = "ProductAccepted"
BODIES = 64
SETTLED_S = 0.3
RAW_TEMPLATE = "p1_raw_template"
SETTLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Sizes:
    seconds: int = 10
    warm_up_s: int = 2


@dataclass(frozen=True)
class Ours:
    processes: int
    results: list[WrkResult]
    written: int
    cpu_s: float
    transactions: int  # the command writers' commits (several commands each where grouped)

    @property
    def seconds(self) -> float:
        return max(result.seconds for result in self.results)

    @property
    def accepted(self) -> int:
        return min(sum(result.answers[ACCEPTED] for result in self.results), self.written)

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds

    @property
    def transactions_per_second(self) -> float:
        return self.transactions / self.seconds

    @property
    def p99_ms(self) -> float:
        """The worst of the processes' p99s (wrk reports percentiles, not samples to merge)."""
        return max(result.latency_ms[99] for result in self.results)

    def problem(self) -> str | None:
        answered = sum(result.answers[ACCEPTED] for result in self.results)
        other = {kind: n for result in self.results for kind, n in result.answers.items() if kind != ACCEPTED}
        if other:
            return f"{sum(other.values()):,} answers were not {ACCEPTED}: {other}"
        if self.written < answered or self.written > answered + CONNECTIONS * self.processes:
            return f"{answered:,} {ACCEPTED} answers, but {self.written:,} rows written"
        if any(result.socket_errors for result in self.results):
            return "socket errors"
        return None

    def summary(self) -> str:
        return "; ".join(result.summary() for result in self.results)


async def run(run: Run, sizes: Sizes) -> Outcome:
    async with private_cluster() as cluster:
        await _raw_template(cluster)
        ours, raw, locked = {}, {}, {}
        for processes in (1, 3):  # ours and its baselines back to back, so the machine's load falls on both
            ours[processes] = await _ours(run, cluster, processes, sizes)
            raw[processes] = await _raw(run, cluster, "sequence", processes, sizes.seconds)
            locked[processes] = await _raw(run, cluster, "head", processes, sizes.seconds)
        await cluster.durable(False)
        fast = {mode: await _raw(run, cluster, mode, 3, sizes.seconds, "-fast") for mode in ("sequence", "head")}
    return _outcome(run, ours, raw, locked, fast)


async def _raw(run: Run, cluster: Cluster, mode: str, processes: int, seconds: float, suffix: str = "") -> RawRate:
    url = await cluster.database(f"p1_raw_{mode}_{processes}{suffix.replace('-', '_')}", RAW_TEMPLATE)
    return await raw_rate(url, mode, processes, CONNECTIONS, seconds, f"{run.run_id}-{mode}{processes}{suffix}-")


async def _raw_template(cluster: Cluster) -> None:
    """The write model's own tables, made by its migrations, and the raw writer's sequence: each raw
    run copies it, so that every run starts on empty tables."""
    url = await cluster.database(RAW_TEMPLATE)
    database = open_database(url)
    try:
        await create_schema(database)
    finally:
        await database.dispose()
    await prepare(url)


async def _ours(run: Run, cluster: Cluster, processes: int, sizes: Sizes) -> Ours:
    url = await cluster.database(f"p1_ours_{processes}")
    settings = run.settings(f"p1-ours-{processes}", database_url=url)
    rng = random.Random(1)
    bodies = write_bodies(run.work / "p1-bodies.txt", CREATE_PRODUCT,
                          [{"input": {**product_input(n, rng), "sku": f"P1-{UNIQUE}"}} for n in range(BODIES)])
    async with AsyncExitStack() as stack:
        # Started together (their migrations take turns); each is on the stack once it answers, so
        # the stack stops every one that started, whichever failed.
        started = await asyncio.gather(*(stack.enter_async_context(
            serve(settings, run.log_path(f"p1-{processes}-{n}"), worker=False)) for n in range(processes)),
            return_exceptions=True)
        served = [one for one in started if isinstance(one, Served)]
        if len(served) < processes:
            raise next(failure for failure in started if isinstance(failure, BaseException))
        await _check(served[0])

        async def load(label: str, seconds: int) -> list[WrkResult]:
            return list(await asyncio.gather(*(
                wrk(one.graphql_url, bodies, f"{label}{n}", connections=CONNECTIONS, seconds=seconds)
                for n, one in enumerate(served))))

        await load(f"p1w{processes}-", sizes.warm_up_s)
        before = await _settled_count(url)
        transactions_before = await _transactions(served)
        cpu_before = sum(cpu_seconds(one.pid) for one in served)
        results = await load(f"p1m{processes}-", sizes.seconds)
        cpu = sum(cpu_seconds(one.pid) for one in served) - cpu_before
        written = await _settled_count(url) - before
        transactions = await _transactions(served) - transactions_before
    return Ours(processes, results, written, cpu, transactions)


async def _transactions(served: list[Served]) -> int:
    async with aiohttp.ClientSession() as session:
        counts = [await gauge(session, one.url, f"{WRITE_TRANSACTIONS}_total") for one in served]
    return int(sum(counts))


async def _check(served: Served) -> None:
    """One mutation answered as expected before the load, so that a broken server fails loudly."""
    async with graphql_client(served.graphql_url, connections=1) as api:
        answer = await api(CREATE_PRODUCT, {"input": {**product_input(0, random.Random(0)), "sku": "P1-check"}})
    if answer["createProduct"]["__typename"] != ACCEPTED:
        raise RuntimeError(f"createProduct was refused: {answer}")


async def _settled_count(url: str) -> int:
    """Products in the database once the count stops moving: the servers go on with the requests
    wrk gave up waiting for."""
    connection = await asyncpg.connect(driver_url(url))
    try:
        deadline = time.perf_counter() + SETTLE_TIMEOUT_S
        last: int = await connection.fetchval("SELECT count(*) FROM products")
        while time.perf_counter() < deadline:
            await asyncio.sleep(SETTLED_S)  # the interval over which "unchanged" is judged
            now: int = await connection.fetchval("SELECT count(*) FROM products")
            if now == last:
                return now
            last = now
    finally:
        await connection.close()
    raise TimeoutError(f"the servers were still writing {SETTLE_TIMEOUT_S:g} s after the load stopped")


def _outcome(run: Run, ours: dict[int, Ours], raw: dict[int, RawRate], locked: dict[int, RawRate],
             fast: dict[str, RawRate]) -> Outcome:
    rows = []
    for processes in (1, 3):
        plural = "es" if processes > 1 else ""
        target = ratio_at_least(0.5) if processes == 3 else REPORT_ONLY
        rows += [
            Row("P1", f"createProduct, {processes} API process{plural} vs raw asyncpg, {processes} process{plural} "
                "(no shared row)", "createProduct/s", ours[processes].per_second, raw[processes].per_second, target,
                ours[processes].problem()),
            Row("P1", f"createProduct latency p99, {processes} process{plural} (wrk / raw)", "ms",
                ours[processes].p99_ms, raw[processes].latencies.p99_ms, REPORT_ONLY),
            Row("P1", f"transactions committed, {processes} API process{plural} vs raw asyncpg (a command each)",
                "commits/s", ours[processes].transactions_per_second, raw[processes].per_second, REPORT_ONLY),
        ]
    for processes in (1, 3):
        plural = "es" if processes > 1 else ""
        rows.append(Row("P1", f"raw asyncpg with the head-row lock vs without, {processes} process{plural}",
                        "commits/s", locked[processes].per_second, raw[processes].per_second, REPORT_ONLY))
    rows.append(Row("P1", "raw asyncpg with the head-row lock vs without, 3 processes, fsync off", "commits/s",
                    fast["head"].per_second, fast["sequence"].per_second, REPORT_ONLY))
    outcome = Outcome(rows=rows)
    outcome.notes += [
        f"A PostgreSQL cluster of the benchmark's own (the dev tooling's, on another port), fsync on: every commit "
        f"waits for its WAL on disk, as in production. Every load runs for the same time, {CONNECTIONS} connections "
        "per process; ours after a warm-up run.",
        *(f"Ours, {n} `storefront serve --no-sync` on one database, a wrk (one thread) per process: "
          f"{ours[n].summary()}; "
          f"{ours[n].written:,} products written (counted in the database) in {ours[n].transactions:,} "
          f"transactions ({ours[n].written / max(1, ours[n].transactions):.1f} commands each); API CPU "
          f"{1000 * ours[n].cpu_s / max(1, ours[n].accepted):.2f} ms per createProduct over the processes."
          for n in (1, 3)),
        "Raw asyncpg: per command, in one transaction, the product row and its ProductCreated outbox row with "
        "prepared statements; positions from a sequence (no row shared between transactions: PostgreSQL's parallel "
        "commit rate), or, for the head-row lock rows, by bumping the outbox head row first and holding it to the "
        "commit, as the write model does. Latency: "
        + "; ".join(f"{name} {rate.latencies.summary()}" for name, rate in (
            ("1 process, sequence", raw[1]), ("1 process, head lock", locked[1]), ("3 processes, sequence", raw[3]),
            ("3 processes, head lock", locked[3]), ("3 processes, sequence, fsync off", fast["sequence"]),
            ("3 processes, head lock, fsync off", fast["head"]))) + ".",
    ]
    outcome.plots.append(bars(run.out / "p1-throughput.png", "P1: createProduct commits per second on PostgreSQL", {
        "ours, 1 API process": ours[1].per_second, "ours, 3 API processes": ours[3].per_second,
        "raw, 1 process": raw[1].per_second, "raw, 3 processes": raw[3].per_second,
        "raw + head lock, 1 process": locked[1].per_second, "raw + head lock, 3 processes": locked[3].per_second,
    }, "commits per second"))
    return outcome


BENCHMARK = Benchmark("P1", "createProduct on PostgreSQL", full=Sizes(), smoke=Sizes(seconds=1, warm_up_s=1), run=run)
