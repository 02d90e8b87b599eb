"""PostgreSQL's own rate for the rows of a `createProduct` (P1's baseline, and the head-row lock's
cost): plain asyncpg, prepared statements, one command a transaction, from `processes` processes
of `connections` connections each, every connection committing one command after another for a
fixed time. A command is the product row and its outbox row, positioned either

- `sequence`: from a sequence, so the transactions share no row (PostgreSQL's parallel commit
  rate; a tailer could skip a position there, see write_model/outbox_writer.py), or
- `head`: by bumping the outbox head row first, held until the commit, as the write model does.

`raw_rate` runs `python -m bench.common.raw_postgres` once per process, all starting at one moment.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no type information shipped; used here alone

from bench.common.catalog import product_states
from bench.common.measure import Latencies
from bench.common.postgres import driver_url
from write_model.money import from_minor_units

SEQUENCE = "bench_positions"
_INSERT_PRODUCT = ("INSERT INTO products (id, sku, name, description, category, tags, price, stock, status, version, "
                   "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, 'ACTIVE', 1, now(), now())")
_BUMP_HEAD = "UPDATE outbox_head SET position = position + 1 RETURNING position"
_INSERT_EVENT = ("INSERT INTO outbox (position, event_id, stream_type, stream_id, stream_version, event_type, payload, "
                 "occurred_at) VALUES ({position}, $1, 'product', $2, 1, 'ProductCreated', $3::json, now())")
_EVENT_BY_MODE = {"head": _INSERT_EVENT.format(position="$4"),
                  "sequence": _INSERT_EVENT.format(position=f"nextval('{SEQUENCE}')")}
# Distinct product contents the commands cycle through; each command has its own id and SKU.
_STATES = 64
# The processes start together this long after being spawned: Python and asyncpg load first.
_START_AFTER_S = 3.0


@dataclass(frozen=True)
class RawRate:
    commits: int
    seconds: float
    latencies: Latencies

    @property
    def per_second(self) -> float:
        return self.commits / self.seconds


async def prepare(url: str) -> None:
    """The sequence of `sequence` mode, in a database the write model's migrations made."""
    connection = await asyncpg.connect(driver_url(url))
    try:
        await connection.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} START 1000000000")
    finally:
        await connection.close()


async def raw_rate(url: str, mode: str, processes: int, connections: int, seconds: float, label: str) -> RawRate:
    start_at = time.time() + _START_AFTER_S
    arguments = [url, mode, str(connections), str(seconds), str(start_at)]
    spawned = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.common.raw_postgres", *arguments, f"{label}{number}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for number in range(processes)]
    results = []
    for process in spawned:
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"the raw PostgreSQL writer failed:\n{stderr.decode(errors='replace')}")
        results.append(json.loads(stdout))
    return RawRate(sum(result["commits"] for result in results), max(result["seconds"] for result in results),
                   Latencies([latency for result in results for latency in result["latencies"]]))


async def command(connection: asyncpg.Connection, state: dict[str, Any], mode: str = "head") -> None:
    """One command's rows for the product `state`, in a transaction of its own."""
    async with connection.transaction():
        await connection.execute(_INSERT_PRODUCT, state["id"], state["sku"], state["name"], state["description"],
                                 state["category"], json.dumps(state["tags"]),
                                 str(from_minor_units(state["priceMinor"])), state["stock"])
        arguments = [str(uuid.uuid4()), state["id"], json.dumps(state)]
        if mode == "head":
            arguments.append(await connection.fetchval(_BUMP_HEAD))
        await connection.execute(_EVENT_BY_MODE[mode], *arguments)


async def _write(url: str, mode: str, connections: int, seconds: float, start_at: float, label: str) -> None:
    states = product_states(_STATES, seed=14)
    pool = await asyncpg.create_pool(driver_url(url), min_size=connections, max_size=connections)
    latencies: list[float] = []
    numbers = iter(range(sys.maxsize))

    async def loop(deadline: float) -> None:
        async with pool.acquire() as connection:
            while time.perf_counter() < deadline:
                number = next(numbers)
                state = {**states[number % _STATES], "id": str(uuid.uuid4()), "sku": f"{label}-{number}"}
                started = time.perf_counter()
                await command(connection, state, mode)
                latencies.append(time.perf_counter() - started)

    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))  # start with the other processes
        started = time.perf_counter()
        await asyncio.gather(*(loop(started + seconds) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    print(json.dumps({"commits": len(latencies), "seconds": elapsed, "latencies": latencies}))


if __name__ == "__main__":
    url_, mode_, connections_, seconds_, start_at_, label_ = sys.argv[1:]
    if mode_ not in _EVENT_BY_MODE:
        raise SystemExit(f"mode {mode_!r}: one of {', '.join(_EVENT_BY_MODE)}")
    asyncio.run(_write(url_, mode_, int(connections_), float(seconds_), float(start_at_), label_))
