"""B1: sync worker throughput, from checkpoint 0 to the head of an outbox of product events, against
`async_bulk` of the same final documents with the same batch size."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_states, seed_outbox
from bench.common.context import Run
from bench.common.elastic import Progress, products_index, raw_bulk, warm_up
from bench.common.plots import progress
from bench.common.profiling import profiled
from bench.common.results import Outcome, Row, ratio_at_least
from read_model.indices import PRODUCTS, ensure_indices
from server.bootstrap import Container, build, migrate
from sync.projections import product_document


@dataclass(frozen=True)
class Sizes:
    events: int
    batch_size: int = 2000  # the worker's default (STOREFRONT_SYNC_BATCH_SIZE)


async def run(run: Run, sizes: Sizes) -> Outcome:
    settings = run.settings("b1", sync_batch_size=sizes.batch_size)
    container = build(settings, local_worker=False)
    client = run.elasticsearch
    try:
        await migrate(container)
        states = product_states(sizes.events, seed=1)
        await seed_outbox(container.database, states)
        await ensure_indices(client, settings.index_prefix)
        documents = [(state["id"], product_document(state, settings.currency)) for state in states]
        await warm_up(client, f"{run.run_id}-b1-warm")
        # The baseline goes first: the merges its segments leave behind then slow our side, not its own.
        raw_alias = await products_index(client, f"{run.run_id}-b1-raw")
        raw_seconds, raw_progress = await raw_bulk(client, raw_alias, documents, sizes.batch_size)
        with profiled(run.profile_file("B1-worker")):
            ours_seconds, ours_progress, batches = await _drain(container)
        counts = [await _count(run, alias) for alias in (PRODUCTS.alias(settings.index_prefix), raw_alias)]
    finally:
        await container.close()
    problem = None if counts == [sizes.events] * 2 else f"indexed {counts[0]:,} (ours) and {counts[1]:,} (baseline)"
    outcome = Outcome(rows=[Row("B1", "sync worker throughput", "events/s", sizes.events / ours_seconds,
                                sizes.events / raw_seconds, ratio_at_least(0.7), problem)])
    outcome.notes += [
        f"Ours: {sizes.events:,} ProductCreated events, seeded straight into the outbox, indexed by "
        f"`SyncWorker.run_once` from checkpoint 0 to the head in {batches} batches of up to {sizes.batch_size} "
        f"(read the outbox, project, bulk with external versions, refresh, save the checkpoint): {ours_seconds:.1f} s.",
        f"Baseline: `async_streaming_bulk` of the same {sizes.events:,} projected documents, chunk size "
        f"{sizes.batch_size}, one refresh at the end: {raw_seconds:.1f} s. It ran first, after a warm-up bulk.",
    ]
    outcome.plots.append(progress(run.out / "b1-progress.png", "B1: events indexed over time",
                                  {"ours (sync worker)": (ours_progress.seconds, ours_progress.done),
                                   "baseline (async_bulk)": (raw_progress.seconds, raw_progress.done)},
                                  "seconds", "events indexed"))
    return outcome


async def _drain(container: Container) -> tuple[float, Progress, int]:
    """Run the worker batch by batch from its checkpoint to the outbox head; returns the seconds,
    the progress over time and the number of batches."""
    checkpoint = start = await container.tracking.position()
    head = await container.outbox.head()
    done = Progress()
    started = time.perf_counter()
    batches = 0
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
        batches += 1
        done.mark(started, checkpoint - start)
    return time.perf_counter() - started, done, batches


async def _count(run: Run, alias: str) -> int:
    response = await run.elasticsearch.count(index=alias)
    return int(response["count"])


BENCHMARK = Benchmark("B1", "sync worker throughput", full=Sizes(events=50_000), smoke=Sizes(events=1_000), run=run)
