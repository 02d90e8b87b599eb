"""wrk loads against served API processes: one load (W1, W2), a warm-up then the measured run,
with the process's CPU time and memory and what it really wrote (counted by the caller); or
several loads taking turns (R1)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common.server import Served, cpu_seconds, rss_kib
from bench.common.wrk import WrkResult, combined, wrk

# How long the row count must stay unchanged to say the server finished what wrk left in flight.
SETTLED_S = 0.3
SETTLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: int
    warm_up_s: int


@dataclass(frozen=True)
class Loaded:
    wrk: WrkResult
    # The server's user + system CPU seconds over the measured run.
    cpu_s: float
    # The server's resident memory right after it.
    rss_kib: int
    # Rows the server wrote during the measured run, counted in its database; None without a count.
    written: int | None

    def accepted(self, kind: str) -> int:
        """Answers of `kind` that the database confirms: wrk's tally, bounded by the rows written."""
        answered = self.wrk.answers[kind]
        return answered if self.written is None else min(answered, self.written)

    def cpu_ms_per(self, kind: str) -> float:
        return 1000 * self.cpu_s / max(1, self.accepted(kind))


def write_bodies(path: Path, query: str, variables: Iterable[dict[str, Any]]) -> Path:
    """The bodies file of bodies.lua: one compact JSON request a line."""
    lines = [json.dumps({"query": query, "variables": given}, separators=(",", ":")) for given in variables]
    path.write_text("\n".join(lines) + "\n")
    return path


async def load(served: Served, bodies: Path, label: str, shape: Load,
               count: Callable[[], int] | None = None) -> Loaded:
    """Warm up, then measure. `count` (rows of the table the mutation adds) is read around the
    measured run, so that only what it wrote is compared with wrk's tally."""
    await wrk(served.graphql_url, bodies, f"{label}w", connections=shape.connections, seconds=shape.warm_up_s)
    before = None if count is None else await _settled(count)
    cpu_before = cpu_seconds(served.pid)
    result = await wrk(served.graphql_url, bodies, label, connections=shape.connections, seconds=shape.seconds)
    cpu = cpu_seconds(served.pid) - cpu_before
    written = None if count is None or before is None else await _settled(count) - before
    return Loaded(result, cpu, rss_kib(served.pid), written)


@dataclass(frozen=True)
class Side:
    """One of the loads that take turns: where wrk sends which bodies, and the process whose CPU
    time is counted (None: none is)."""

    label: str
    url: str
    bodies: Path
    pid: int | None = None


async def taking_turns(sides: list[Side], shape: Load, rounds: int) -> dict[str, Loaded]:
    """Each side warmed up, then measured in turns, round after round, the order reversed every
    other round: `shape.seconds` of each side split over the rounds, so that the machine's drift
    (a shared machine's neighbours, Elasticsearch's merges and collections) falls on all alike."""
    if shape.seconds < rounds:
        raise ValueError(f"{shape.seconds} s cannot be split over {rounds} rounds of whole seconds")
    for side in sides:
        await wrk(side.url, side.bodies, f"{side.label}w", connections=shape.connections, seconds=shape.warm_up_s)
    runs: dict[str, list[WrkResult]] = {side.label: [] for side in sides}
    cpu = dict.fromkeys(runs, 0.0)
    for turn in range(rounds):
        for side in sides if turn % 2 == 0 else sides[::-1]:
            before = 0.0 if side.pid is None else cpu_seconds(side.pid)
            runs[side.label].append(await wrk(side.url, side.bodies, f"{side.label}{turn}",
                                              connections=shape.connections, seconds=shape.seconds // rounds))
            cpu[side.label] += 0.0 if side.pid is None else cpu_seconds(side.pid) - before
    return {side.label: Loaded(combined(runs[side.label]), cpu[side.label],
                               0 if side.pid is None else rss_kib(side.pid), None) for side in sides}


async def _settled(count: Callable[[], int]) -> int:
    """The count once it stops moving: the server goes on with requests wrk gave up waiting for."""
    deadline = time.perf_counter() + SETTLE_TIMEOUT_S
    last = count()
    while time.perf_counter() < deadline:
        await asyncio.sleep(SETTLED_S)
        if (now := count()) == last:
            return now
        last = now
    raise TimeoutError(f"the server was still writing {SETTLE_TIMEOUT_S:g} s after the load stopped")


def verification(loaded: Loaded, kind: str, connections: int, refusals: frozenset[str] = frozenset()) -> str | None:
    """What disagrees between wrk's tally and the database, or None. `kind` is the answer that
    writes a row, `refusals` the answers allowed besides it. Requests still in flight when wrk
    stops may be written without being tallied, at most one per connection."""
    other = {name: n for name, n in loaded.wrk.answers.items() if name != kind and name not in refusals}
    if other:
        return f"{sum(other.values()):,} answers were not {kind}: {other}"
    if loaded.written is not None:
        answered = loaded.wrk.answers[kind]
        if loaded.written < answered:
            return f"{answered:,} {kind} answers, but only {loaded.written:,} rows written"
        if loaded.written > answered + connections:
            return f"{loaded.written:,} rows written for {answered:,} {kind} answers"
    if loaded.wrk.socket_errors:
        return f"{loaded.wrk.socket_errors:,} socket errors"
    return None
