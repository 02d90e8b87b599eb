"""B8: one change delivered to many `productChanged` subscribers over graphql-transport-ws, and the
memory an idle subscription holds, against the same payload broadcast over as many bare websockets
by a `websockets` server that does nothing else."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
from bench.common.results import Outcome, Row, at_most, ratio_at_most
from bench.common.server import SUBSCRIPTIONS_OPEN, free_port, rss_kib, serve, spawned, wait_for_gauge

# Connections opened at once: enough to be quick, few enough not to hit the server's accept backlog.
OPENING_BATCH = 50
DELIVERY_TIMEOUT_S = 60.0
# Lets allocations of the last burst settle before memory is read.
SETTLE_S = 1.0


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    rounds: int


@dataclass(frozen=True)
class Fanout:
    latencies: Latencies
    # Per round: last arrival minus first arrival.
    spreads: list[float]
    kib_per_connection: float


Trigger = Callable[[], Awaitable[None]]
Opener = Callable[[], Awaitable[ClientConnection]]
# Waits until the server counts exactly this many subscribers.
Counted = Callable[[int], Awaitable[None]]


async def run(run: Run, sizes: Sizes) -> Outcome:
    ours, payload = await _ours(run, sizes)
    raw = await _raw(run, sizes, payload)
    outcome = Outcome(rows=[
        Row("B8", f"one change to {sizes.subscribers:,} subscribers, p99", "ms", ours.latencies.p99_ms,
            raw.latencies.p99_ms, ratio_at_most(2)),
        Row("B8", "memory per idle subscription", "KB", ours.kib_per_connection, raw.kib_per_connection,
            at_most(100, "KB")),
    ])
    outcome.notes += [
        f"Ours: {sizes.subscribers:,} graphql-transport-ws connections, one `productChanged(id)` subscription each, "
        f"to `storefront serve` with its worker; {sizes.rounds} rounds of one `adjustStock` on that product. "
        "Latency = arrival at each subscriber minus the moment the mutation was sent, so it includes the commit, "
        f"indexing and refresh: {ours.latencies.summary()}; first to last arrival per round "
        f"{_spread(ours.spreads)}.",
        f"Baseline: as many bare websockets to a `websockets` server that sends the same {len(payload):,}-byte "
        f"message with `broadcast()` on a control message; latency from sending that message: "
        f"{raw.latencies.summary()}; first to last arrival {_spread(raw.spreads)}.",
        f"Memory: the server's VmRSS growth from opening the subscriptions, after a warm-up and {SETTLE_S:g} s to "
        f"settle, divided by their number (KB = KiB): {ours.kib_per_connection:.1f} KB per connection with one "
        f"subscription; {raw.kib_per_connection:.1f} KB per bare websocket.",
    ]
    title = f"B8: one change to {sizes.subscribers:,} subscribers"
    outcome.plots.append(latency_cdf(run.out / "b8-fanout.png", title,
                                     {"ours (productChanged)": ours.latencies.ms,
                                      "baseline (websockets broadcast)": raw.latencies.ms}))
    return outcome


def _spread(spreads: list[float]) -> str:
    return f"median {percentile(spreads, 50) * 1000:.1f} ms"


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
        return await _fan_out(served.pid, subscribe, subscribed, change, sizes), payload


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
        return await _fan_out(process.pid, subscribe, subscribed, send, sizes)


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


async def _fan_out(pid: int, subscribe: Opener, subscribed: Counted, trigger: Trigger, sizes: Sizes) -> Fanout:
    await asyncio.sleep(SETTLE_S)
    before = rss_kib(pid)
    delivered = 0

    def arrived() -> None:
        nonlocal delivered
        delivered += 1

    listeners: list[Listener] = []
    try:
        for start in range(0, sizes.subscribers, OPENING_BATCH):
            batch = range(start, min(start + OPENING_BATCH, sizes.subscribers))
            listeners += [Listener(connection, arrived) for connection in
                          await asyncio.gather(*(subscribe() for _ in batch))]
        await subscribed(sizes.subscribers)
        await asyncio.sleep(SETTLE_S)
        kib = (rss_kib(pid) - before) / sizes.subscribers
        latencies: list[float] = []
        spreads: list[float] = []
        for round_ in range(sizes.rounds):
            sent = time.perf_counter()
            await trigger()
            # The condition is polled to its end within this round, so it only ever sees this `round_`.
            await wait_until(lambda: delivered >= sizes.subscribers * (round_ + 1),  # noqa: B023
                             DELIVERY_TIMEOUT_S, f"round {round_ + 1} delivered to every subscriber")
            arrivals = [listener.arrivals[round_][0] for listener in listeners]
            latencies += [arrival - sent for arrival in arrivals]
            spreads.append(max(arrivals) - min(arrivals))
        return Fanout(Latencies(latencies), spreads, kib)
    finally:
        await asyncio.gather(*(listener.close() for listener in listeners))


BENCHMARK = Benchmark("B8", "subscription fan-out", full=Sizes(subscribers=1_000, rounds=5),
                      smoke=Sizes(subscribers=50, rounds=2), run=run)
