"""P2: W3 on PostgreSQL. Default `storefront serve` (in-process sync worker) on a PostgreSQL write
model at 200 `createProduct`/s offered: does it keep up, and how long from commit to the
`productChanged` notification, against the raw path of the same change: an asyncpg transaction
(product row, outbox head bump, outbox row), a bulk index with `refresh=true`, reading it back."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information

from bench.common.benchmark import Benchmark
from bench.common.context import Run
from bench.common.postgres import driver_url, private_cluster
from bench.common.raw_postgres import command
from bench.common.results import Outcome
from bench.w3_lag import BENCHMARK as W3
from bench.w3_lag import Sizes, lag_outcome
from write_model.database import create_schema, open_database


async def run(run: Run, sizes: Sizes) -> Outcome:
    async with private_cluster() as cluster:
        settings = run.settings("p2", database_url=await cluster.database("p2"))
        raw_url = await cluster.database("p2_raw")
        database = open_database(raw_url)  # the write model's own tables, made by its migrations
        try:
            await create_schema(database)
        finally:
            await database.dispose()
        connection = await asyncpg.connect(driver_url(raw_url))

        async def commit(state: dict[str, Any]) -> None:
            await command(connection, state)

        try:
            outcome = await lag_outcome(run, sizes, "P2", settings, commit, "asyncpg")
        finally:
            await connection.close()
    outcome.notes.insert(0, "On a PostgreSQL cluster of the benchmark's own (the dev tooling's, on another port), "
                            "fsync on: every commit waits for its WAL on disk, as in production.")
    return outcome


BENCHMARK = Benchmark("P2", "commit -> notified at 200/s on PostgreSQL", full=W3.full, smoke=W3.smoke, run=run)
