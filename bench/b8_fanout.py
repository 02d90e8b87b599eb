"""B8: one change delivered to many `productChanged` subscribers over graphql-transport-ws, and the
memory an idle subscription holds, against the same payload broadcast over as many bare websockets
by a `websockets` server that does nothing else (F1); and the same subscribers spread over many
cohorts (distinct documents) against all in one (F2)."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from bench import raw_broadcast
from bench.common.benchmark import Benchmark
from bench.common.catalog import product_input
from bench.common.context import Run
from bench.common.graphql import (
    ADJUST_STOCK,
    CREATE_PRODUCT,
    PRODUCT_CHANGED,
    Listener,
    graphql_client,
    open_subscription,
)
from bench.common.measure import Latencies, percentile, wait_until
from bench.common.plots import latency_cdf
from bench.common.results import REPORT_ONLY, Outcome, Row, at_most, ratio_at_most
from bench.common.server import (
    SUBSCRIPTIONS_OPEN,
    cpu_seconds,
    free_port,
    gauge,
    rss_kib,
    serve,
    spawned,
    wait_for_gauge,
)

# Connections opened at once: enough to be quick, few enough not to hit the server's accept backlog.
OPENING_BATCH = 50
DELIVERY_TIMEOUT_S = 60.0
# Lets allocations of the last burst settle before memory is read.
SETTLE_S = 1.0
COHORTS = "storefront_subscription_cohorts"


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    # F1's second size, and F2's: all of `subscribers` and more, in one process.
    many_subscribers: int
    # F2: `many_subscribers` spread over this many distinct documents.
    cohorts: int
    rounds: int


@dataclass(frozen=True)
class Rounds:
    latencies: Latencies
    # Per round: last arrival minus first arrival.
    spreads: list[float]
    # The server's CPU time over the rounds, divided by their number.
    cpu_s_per_change: float


@dataclass
class Fanout:
    few: Rounds
    many: Rounds
    kib_per_connection: float
    # Ours only: `many` spread over cohorts.
    spread: Rounds | None = None
    notes: list[str] = field(default_factory=list)


class Listeners(list[Listener]):
    """Listeners, counting every message they receive between them."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def listen(self, connection: ClientConnection) -> None:
        self.append(Listener(connection, self._arrived))

    def _arrived(self) -> None:
        self.received += 1


Trigger = Callable[[], Awaitable[None]]
Opener = Callable[[], Awaitable[ClientConnection]]
# Waits until the server counts exactly this many subscribers.
Counted = Callable[[int], Awaitable[None]]


async def run(run: Run, sizes: Sizes) -> Outcome:
    ours, payload = await _ours(run, sizes)
    raw = await _raw(run, sizes, payload)
    assert ours.spread is not None
    few, many = f"{sizes.subscribers:,}", f"{sizes.many_subscribers:,}"
    outcome = Outcome(rows=[
        Row("B8", f"one change to {few} subscribers, p99", "ms", ours.few.latencies.p99_ms,
            raw.few.latencies.p99_ms, ratio_at_most(2)),
        Row("B8", f"one change to {many} subscribers, p99", "ms", ours.many.latencies.p99_ms,
            raw.many.latencies.p99_ms, ratio_at_most(3)),
        Row("B8", f"memory per idle subscription ({many})", "KB", ours.kib_per_connection, raw.kib_per_connection,
            at_most(50, "KB")),
        Row("F2", f"{many} subscribers in {sizes.cohorts:,} cohorts vs 1, p99", "ms",
            ours.spread.latencies.p99_ms, ours.many.latencies.p99_ms, REPORT_ONLY),
        Row("F2", f"API CPU per change, {sizes.cohorts:,} cohorts vs 1", "ms", ours.spread.cpu_s_per_change * 1000,
            ours.many.cpu_s_per_change * 1000, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Ours: graphql-transport-ws connections, one `productChanged(id)` subscription each (one document, so one "
        f"cohort), to `storefront serve` with its worker; {sizes.rounds} rounds of one `adjustStock` on that product "
        f"with {few} subscribers, then {sizes.rounds} more once {many} are open. Latency = arrival at each "
        "subscriber minus the moment the mutation was sent, so it includes the commit, indexing and refresh: "
        f"{few}: {_summary(ours.few)}; {many}: {_summary(ours.many)}.",
        f"Baseline: as many bare websockets to a `websockets` server that sends the same {len(payload):,}-byte "
        f"message with `broadcast()` on a control message; latency from sending that message: {few}: "
        f"{_summary(raw.few)}; {many}: {_summary(raw.many)}.",
        f"F2: the same {many} connections each subscribe again (and end the first subscription) with one of "
        f"{sizes.cohorts:,} documents that differ only in their operation's name, so the server renders every "
        f"change {sizes.cohorts:,} times instead of once: {_summary(ours.spread)}. CPU per change is the server "
        "process's user + system time over the rounds divided by their number (the mutation, the worker and the "
        "refresh included, alike in both).",
        f"Memory: the server's VmRSS growth from opening the {many} subscriptions, after a warm-up and {SETTLE_S:g} s "
        f"to settle, divided by their number (KB = KiB): {ours.kib_per_connection:.1f} KB per connection with one "
        f"subscription; {raw.kib_per_connection:.1f} KB per bare websocket.",
        *ours.notes,
    ]
    title = "B8: one change to many subscribers"
    outcome.plots.append(latency_cdf(run.out / "b8-fanout.png", title, {
        f"ours, {few} (productChanged)": ours.few.latencies.ms, f"ours, {many}": ours.many.latencies.ms,
        f"ours, {many} in {sizes.cohorts:,} cohorts": ours.spread.latencies.ms,
        f"baseline, {few} (websockets broadcast)": raw.few.latencies.ms,
        f"baseline, {many}": raw.many.latencies.ms,
    }))
    return outcome


def _summary(rounds: Rounds) -> str:
    return (f"{rounds.latencies.summary()}, first to last arrival per round median "
            f"{percentile(rounds.spreads, 50) * 1000:.1f} ms, {rounds.cpu_s_per_change * 1000:.1f} ms of CPU a change")


async def _ours(run: Run, sizes: Sizes) -> tuple[Fanout, str]:
    """Our fan-out, and the notification it sent (the baseline sends the same bytes)."""
    async with (serve(run.settings("b8"), run.log_path("b8"), worker=True,
                      profile_to=run.profile_file("B8-server")) as served,
                graphql_client(served.graphql_url, connections=1) as api):
        given = product_input(0, random.Random(8), "B8")
        product = (await api(CREATE_PRODUCT, {"input": given}))["createProduct"]["id"]

        async def subscribe() -> ClientConnection:
            return await open_subscription(served.ws_url, PRODUCT_CHANGED, {"id": product})

        async def change() -> None:
            await api(ADJUST_STOCK, {"input": {"productId": product, "delta": 1}})

        async def subscribed(count: int) -> None:
            await wait_for_gauge(api.session, served.url, SUBSCRIPTIONS_OPEN, count)

        payload = await _warm_up(subscribe, subscribed, change)
        async with _fan_out(served.pid, subscribe, subscribed, change, sizes) as (fanout, listeners):
            cohorts = [PRODUCT_CHANGED.replace("subscription Watch(", f"subscription Watch{n}(")
                       for n in range(sizes.cohorts)]
            for n, listener in enumerate(listeners):  # a new subscription ("2") ends the first
                await listener.connection.send(json.dumps({"id": "1", "type": "complete"}))
                await listener.connection.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
                    "query": cohorts[n % sizes.cohorts], "variables": {"id": product}}}))
            await wait_for_gauge(api.session, served.url, COHORTS, sizes.cohorts)
            await subscribed(sizes.many_subscribers)
            fanout.spread = await _rounds(served.pid, listeners, change, sizes.rounds)
            fanout.notes.append(f"Cohorts the server counted with {sizes.many_subscribers:,} subscribers in one "
                                f"document: 1; in {sizes.cohorts:,} documents: "
                                f"{await gauge(api.session, served.url, COHORTS):g}.")
        return fanout, payload


async def _raw(run: Run, sizes: Sizes, payload: str) -> Fanout:
    port = free_port()
    command = [sys.executable, "-m", raw_broadcast.__name__, str(port)]
    async with (spawned(command, run.log_path("b8-raw")) as process,
                _control(f"ws://127.0.0.1:{port}/control") as control):

        async def subscribe() -> ClientConnection:
            return await connect(f"ws://127.0.0.1:{port}/", ping_interval=None, max_size=None, open_timeout=30)

        async def send() -> None:
            await control.send(payload)

        async def subscribed(count: int) -> None:
            await control.send(raw_broadcast.COUNT)
            while int(await control.recv()) != count:
                await asyncio.sleep(0.02)
                await control.send(raw_broadcast.COUNT)

        await _warm_up(subscribe, subscribed, send)
        async with _fan_out(process.pid, subscribe, subscribed, send, sizes) as (fanout, _listeners):
            return fanout


@asynccontextmanager
async def _control(url: str) -> AsyncIterator[ClientConnection]:
    """The control connection, once the freshly started server accepts connections."""
    deadline = time.perf_counter() + 30
    while True:
        try:
            connection = await connect(url, ping_interval=None, max_size=None)
            break
        except OSError:
            if time.perf_counter() > deadline:
                raise
            await asyncio.sleep(0.05)
    async with connection:
        yield connection


async def _warm_up(subscribe: Opener, subscribed: Counted, trigger: Trigger) -> str:
    """One subscriber and one delivery, so imports and caches are in place before memory is read;
    returns the message delivered."""
    listener = Listener(await subscribe())
    await subscribed(1)
    await trigger()
    await wait_until(lambda: bool(listener.arrivals), DELIVERY_TIMEOUT_S, "the warm-up delivery")
    await listener.close()
    await subscribed(0)
    return listener.arrivals[0][1]


@asynccontextmanager
async def _fan_out(pid: int, subscribe: Opener, subscribed: Counted, trigger: Trigger, sizes: Sizes
                   ) -> AsyncIterator[tuple[Fanout, Listeners]]:
    """F1 at both sizes; yields the figures and the `many_subscribers` listeners, closed on exit."""
    await asyncio.sleep(SETTLE_S)
    before = rss_kib(pid)
    listeners = Listeners()
    try:
        await _open(listeners, subscribe, sizes.subscribers)
        await subscribed(sizes.subscribers)
        few = await _rounds(pid, listeners, trigger, sizes.rounds)
        await _open(listeners, subscribe, sizes.many_subscribers)
        await subscribed(sizes.many_subscribers)
        await asyncio.sleep(SETTLE_S)
        kib = (rss_kib(pid) - before) / sizes.many_subscribers
        many = await _rounds(pid, listeners, trigger, sizes.rounds)
        yield Fanout(few, many, kib), listeners
    finally:
        await asyncio.gather(*(listener.close() for listener in listeners))


async def _open(listeners: Listeners, subscribe: Opener, up_to: int) -> None:
    while len(listeners) < up_to:
        batch = range(len(listeners), min(len(listeners) + OPENING_BATCH, up_to))
        for connection in await asyncio.gather(*(subscribe() for _ in batch)):
            listeners.listen(connection)


async def _rounds(pid: int, listeners: Listeners, trigger: Trigger, rounds: int) -> Rounds:
    latencies: list[float] = []
    spreads: list[float] = []
    cpu_before = cpu_seconds(pid)
    for round_ in range(rounds):
        seen = [len(listener.arrivals) for listener in listeners]
        expected = listeners.received + len(listeners)
        sent = time.perf_counter()
        await trigger()
        # The count is polled to its end within this round, so it only ever sees this round's `expected`.
        await wait_until(lambda: listeners.received >= expected,  # noqa: B023
                         DELIVERY_TIMEOUT_S, f"round {round_ + 1} delivered to every subscriber")
        arrivals = [listener.arrivals[count][0] for listener, count in zip(listeners, seen, strict=True)]
        latencies += [arrival - sent for arrival in arrivals]
        spreads.append(max(arrivals) - min(arrivals))
    return Rounds(Latencies(latencies), spreads, (cpu_seconds(pid) - cpu_before) / rounds)


BENCHMARK = Benchmark("B8", "subscription fan-out",
                      full=Sizes(subscribers=1_000, many_subscribers=10_000, cohorts=500, rounds=5),
                      smoke=Sizes(subscribers=50, many_subscribers=200, cohorts=10, rounds=2), run=run)
