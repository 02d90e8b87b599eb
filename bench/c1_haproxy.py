"""C1: `products(search)` requests per second through HAProxy (the front of `storefront cluster up`,
from its configuration template) to 1, 2 and 3 `storefront serve --no-sync` processes, against
one process called directly; and what HAProxy adds to each request: latency at one connection,
and its own CPU time."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from bench.common.benchmark import Benchmark
from bench.common.catalog import SEARCH_TERMS
from bench.common.context import Run
from bench.common.load import write_bodies
from bench.common.plots import bars
from bench.common.results import REPORT_ONLY, Outcome, Row
from bench.common.server import READY_TIMEOUT_S, Served, cpu_seconds, free_port, serve, spawned
from bench.common.wrk import WrkResult, wrk
from bench.r1_search import ANSWER, PAGE, SEARCH
from devtools.cluster import haproxy


@dataclass(frozen=True)
class Sizes:
    products: int = 100_000
    api_processes: int = 3
    # The measurements take turns, round after round, so that the machine's drift spreads over all of them.
    rounds: int = 3
    seconds: int = 4  # of each measurement in each round
    warm_up_s: int = 2
    connections: int = 8  # R1's, so that the direct row is R1's figure


@dataclass
class Measured:
    """One target's wrk runs over the rounds, and the CPU time spent meanwhile: HAProxy's (0 when
    called directly) and the API processes'."""

    runs: list[WrkResult] = field(default_factory=list)
    front_cpu_s: float = 0.0
    api_cpu_s: float = 0.0

    @property
    def searches(self) -> int:
        return sum(result.answers[ANSWER] for result in self.runs)

    @property
    def rate(self) -> float:
        return self.searches / sum(result.seconds for result in self.runs)

    @property
    def p50_ms(self) -> float:
        """The median of the rounds' p50s."""
        return statistics.median(result.latency_ms[50] for result in self.runs)

    def cpu_ms_per_search(self, seconds: float) -> float:
        return 1000 * seconds / max(1, self.searches)

    def problem(self) -> str | None:
        other = Counter[str]()
        for result in self.runs:
            other.update({kind: count for kind, count in result.answers.items() if kind != ANSWER})
        if other:
            return f"{sum(other.values()):,} answers were not searches' results: {dict(other)}"
        errors = sum(result.socket_errors for result in self.runs)
        return f"{errors:,} socket errors" if errors else None

    def summary(self) -> str:
        return (f"{self.searches:,} searches in {sum(result.seconds for result in self.runs):.1f} s over "
                f"{len(self.runs)} rounds, p50 {', '.join(f'{result.latency_ms[50]:.1f}' for result in self.runs)} ms")


async def run(run: Run, sizes: Sizes) -> Outcome:
    prefix = await run.product_corpus(sizes.products)
    bodies = write_bodies(run.work / "c1-bodies.txt", SEARCH,
                          [{"search": term, "first": PAGE} for term in SEARCH_TERMS])
    async with AsyncExitStack() as stack:
        # Each process on a SQLite file of its own (searches never touch it), all on the same corpus.
        apis: Sequence[Served] = await asyncio.gather(*(stack.enter_async_context(
            serve(run.settings(f"c1-{n}", index_prefix=prefix), run.log_path(f"C1-api-{n}"), worker=False))
            for n in range(1, sizes.api_processes + 1)))
        fronts = [await stack.enter_async_context(_front(run, apis[:count]))
                  for count in range(1, sizes.api_processes + 1)]
        # (label, where, HAProxy's pid or None, connections) of each measurement.
        targets = [("direct", apis[0], None, sizes.connections),
                   *((f"front{n}", front, front.pid, sizes.connections) for n, front in enumerate(fronts, 1)),
                   ("direct1c", apis[0], None, 1), ("front1c", fronts[0], fronts[0].pid, 1)]
        measured = {label: Measured() for label, *_ in targets}

        def cpu(front: int | None) -> tuple[float, float]:
            return cpu_seconds(front) if front else 0.0, sum(cpu_seconds(served.pid) for served in apis)

        for label, served, _, connections in targets:
            await wrk(served.graphql_url, bodies, f"{label}w", connections=connections, seconds=sizes.warm_up_s)
        for turn in range(sizes.rounds):
            for label, served, front, connections in targets:
                front_before, api_before = cpu(front)
                result = await wrk(served.graphql_url, bodies, f"{label}{turn}", connections=connections,
                                   seconds=sizes.seconds)
                front_after, api_after = cpu(front)
                measured[label].runs.append(result)
                measured[label].front_cpu_s += front_after - front_before
                measured[label].api_cpu_s += api_after - api_before
    through = {count: measured[f"front{count}"] for count in range(1, sizes.api_processes + 1)}
    return _outcome(run, sizes, measured["direct"], measured["direct1c"], through, measured["front1c"])


@asynccontextmanager
async def _front(run: Run, apis: Sequence[Served]) -> AsyncIterator[Served]:
    """HAProxy from the cluster's template in front of `apis`, once it has them all in rotation."""
    folder = run.work / f"c1-haproxy-{len(apis)}"
    port = free_port()
    backends = [haproxy.Backend(f"api-{n}", int(served.url.rsplit(":", 1)[1])) for n, served in enumerate(apis, 1)]
    argv = haproxy.write_configuration(folder, port, backends)
    async with spawned(argv, run.log_path(f"C1-haproxy-{len(apis)}")) as process:
        await asyncio.to_thread(haproxy.wait_until_in_rotation, folder, [backend.name for backend in backends],
                                READY_TIMEOUT_S)
        yield Served(f"http://127.0.0.1:{port}", process.pid, 0.0)


def _outcome(run: Run, sizes: Sizes, direct: Measured, direct_one: Measured, through: dict[int, Measured],
             through_one: Measured) -> Outcome:
    problem = next((found for found in (m.problem() for m in (direct, direct_one, through_one, *through.values()))
                    if found), None)
    rows = [Row("C1", f"searches/s through HAProxy, {count} API process{'es' if count > 1 else ''}, vs 1 direct",
                "requests/s", measured.rate, direct.rate, REPORT_ONLY, problem)
            for count, measured in through.items()]
    # CPU from the runs with the most searches through one process: /proc counts it in 10 ms ticks.
    busiest = through[1]
    front_ms = busiest.cpu_ms_per_search(busiest.front_cpu_s)
    rows += [
        Row("C1", "search latency p50 at 1 connection, through HAProxy vs direct", "ms",
            through_one.p50_ms, direct_one.p50_ms, REPORT_ONLY, problem),
        Row("C1", "HAProxy CPU per search vs the API process's", "ms", front_ms,
            busiest.cpu_ms_per_search(busiest.api_cpu_s), REPORT_ONLY, problem),
    ]
    outcome = Outcome(rows=rows)
    outcome.notes += [
        f"Corpus: {sizes.products:,} products (B4's). The search: R1's `products(search, first: {PAGE})` with "
        f"totalCount, the category facet and every product field, cycling through {len(SEARCH_TERMS)} terms.",
        f"Load: wrk, one thread, {sizes.connections} connections (1 for the latency rows), closed loop. "
        f"{sizes.api_processes} `storefront serve --no-sync` processes (each on a SQLite file of its own) and an "
        "HAProxy (devtools/src/devtools/cluster/haproxy.cfg: round robin, /readyz checks) in front of the first 1, "
        f"2 and 3 of them run throughout; after a {sizes.warm_up_s} s warm-up of each, the measurements take turns, "
        f"{sizes.seconds} s each, for {sizes.rounds} rounds. Rates: searches over seconds of all rounds; p50: the "
        "median of the rounds'.",
        f"Direct to one process: {direct.summary()}. "
        + " ".join(f"Through HAProxy to {count}: {measured.summary()}." for count, measured in through.items()),
        f"One connection, direct: {direct_one.summary()}; through HAProxy to one process: {through_one.summary()}.",
        f"CPU (utime + stime from /proc, in 10 ms ticks) through HAProxy to one process at {sizes.connections} "
        f"connections: HAProxy {busiest.front_cpu_s:.2f} s for {busiest.searches:,} searches "
        f"({1000 * front_ms:.0f} us each, its health checks included), the API processes {busiest.api_cpu_s:.2f} s.",
    ]
    outcome.plots.append(bars(run.out / "c1-haproxy.png", f"C1: searches per second, {sizes.connections} connections",
                              {"direct, 1 process": direct.rate,
                               **{f"HAProxy, {count}": measured.rate for count, measured in through.items()}},
                              "per second"))
    return outcome


BENCHMARK = Benchmark("C1", "searches through HAProxy", full=Sizes(),
                      smoke=Sizes(products=2_000, api_processes=2, rounds=1, seconds=1, warm_up_s=1,
                                  connections=4), run=run)
