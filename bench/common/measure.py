"""Timing, percentiles and load shapes. Every loop is bounded by a count and a time limit."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

Action = Callable[[int], Awaitable[None]]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating between closest ranks as numpy does by default."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]

    @property
    def p50_ms(self) -> float:
        return percentile(self.seconds, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.seconds, 99) * 1000

    @property
    def ms(self) -> list[float]:
        return [s * 1000 for s in self.seconds]

    def summary(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms over {len(self.seconds):,} samples"


@dataclass(frozen=True)
class Throughput:
    done: int
    seconds: float
    latencies: Latencies

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


class Stopwatch:
    """`with Stopwatch() as watch: ...`; then `watch.seconds`."""

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self._started


async def closed_loop(clients: int, count: int, time_limit_s: float, action: Action) -> Throughput:
    """`clients` concurrent callers each run the next numbered action as soon as their last one
    answered, until `count` actions are done or the time limit passes."""
    next_job = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + time_limit_s

    async def client() -> None:
        nonlocal next_job
        while next_job < count and time.perf_counter() < deadline:
            job, next_job = next_job, next_job + 1
            started = time.perf_counter()
            await action(job)
            latencies.append(time.perf_counter() - started)

    with Stopwatch() as watch:
        async with asyncio.TaskGroup() as group:  # one failure cancels the other callers
            for _ in range(clients):
                group.create_task(client())
    return Throughput(len(latencies), watch.seconds, Latencies(latencies))


async def paced(rate_per_s: float, duration_s: float, action: Action, max_in_flight: int) -> Throughput:
    """Open loop: start action n at n / rate seconds, whether or not earlier ones answered, so a
    slow server shows up as latency rather than as a gentler load. Past `max_in_flight` unanswered
    actions the schedule waits (the achieved rate then says so)."""
    slots = asyncio.Semaphore(max_in_flight)
    latencies: list[float] = []

    async def timed(job: int) -> None:
        started = time.perf_counter()
        try:
            await action(job)
            latencies.append(time.perf_counter() - started)
        finally:
            slots.release()

    count = int(rate_per_s * duration_s)
    with Stopwatch() as watch:
        async with asyncio.TaskGroup() as group:
            start = time.perf_counter()
            for job in range(count):
                await asyncio.sleep(max(0.0, start + job / rate_per_s - time.perf_counter()))
                await slots.acquire()
                group.create_task(timed(job))
    return Throughput(len(latencies), watch.seconds, Latencies(latencies))


async def alternating(
    ours: Action, baseline: Action, count: int, warm_up: int
) -> tuple[Latencies, Latencies]:
    """Sequential latencies of two ways of doing job n, taken turn about so that the machine's
    noise falls on both alike. The first `warm_up` of each are not counted."""
    measured: tuple[list[float], list[float]] = ([], [])
    for job in range(warm_up + count):
        for way, samples in zip((ours, baseline), measured, strict=True):
            started = time.perf_counter()
            await way(job)
            if job >= warm_up:
                samples.append(time.perf_counter() - started)
    return Latencies(measured[0]), Latencies(measured[1])


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.005) -> None:
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:g} s")
        await asyncio.sleep(poll_s)
