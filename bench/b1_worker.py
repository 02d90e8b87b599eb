"""B1: sync worker throughput, from checkpoint 0 to the head of an outbox of product events, against
`async_bulk` of the same final documents with the same batch size."""

from __future__ import annotations

import time
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch

from bench.common.benchmark import Benchmark
from bench.common.catalog import product_states, seed_outbox
from bench.common.context import Run
from bench.common.elastic import Progress, raw_bulk, warm_up
from bench.common.plots import progress
from bench.common.profiling import profiled
from bench.common.results import Outcome, Row, ratio_at_least
from read_model.indices import EVENTS, PRODUCTS, create_index, ensure_indices
from server.bootstrap import Container, build, migrate
from sync.projections import IndexDocument, project


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
        documents = [target for event in await container.outbox.read_after(0, sizes.events)
                     for target in project(event, settings.currency)]
        await warm_up(client, f"{run.run_id}-b1-warm")
        # The baseline goes first: the merges its segments leave behind then slow our side, not its own.
        raw_prefix = f"{run.run_id}-b1-raw"
        raw_seconds, raw_progress = await _raw_baseline(client, raw_prefix, documents, sizes.batch_size)
        with profiled(run.profile_file("B1-worker")):
            ours_seconds, ours_progress, passes = await _drain(container)
        counts = [await _count(run, PRODUCTS.alias(prefix)) for prefix in (settings.index_prefix, raw_prefix)]
    finally:
        await container.close()
    problem = None if counts == [sizes.events] * 2 else f"indexed {counts[0]:,} (ours) and {counts[1]:,} (baseline)"
    outcome = Outcome(rows=[Row("B1", "sync worker throughput", "events/s", sizes.events / ours_seconds,
                                sizes.events / raw_seconds, ratio_at_least(0.85), problem)])
    outcome.notes += [
        f"Ours: {sizes.events:,} ProductCreated events, seeded straight into the outbox, indexed by "
        f"`SyncWorker.run_once` from checkpoint 0 to the head in {passes} passes of batches of up to "
        f"{sizes.batch_size} (read the outbox, project, bulk with external versions; the next batch read while "
        f"a bulk is in flight; a refresh and the checkpoint once a pass): {ours_seconds:.1f} s.",
        f"Baseline: `async_streaming_bulk` of the same {len(documents):,} projected documents (each event's "
        f"product and its entry in the events index), index by index, chunk size {sizes.batch_size}, a refresh "
        f"after each: {raw_seconds:.1f} s. It ran first, after a warm-up bulk.",
    ]
    per_event = len(documents) / sizes.events
    outcome.plots.append(progress(run.out / "b1-progress.png", "B1: documents indexed over time",
                                  {"ours (sync worker)": (ours_progress.seconds,
                                                          [round(done * per_event) for done in ours_progress.done]),
                                   "baseline (async_bulk)": (raw_progress.seconds, raw_progress.done)},
                                  "seconds", "documents indexed"))
    return outcome


async def _raw_baseline(client: AsyncElasticsearch, prefix: str, documents: list[IndexDocument],
                        chunk_size: int) -> tuple[float, Progress]:
    """The raw bulk of the documents the worker writes, one index after the other: the seconds in
    all and the documents done over time."""
    seconds = 0.0
    done = Progress()
    for definition in (PRODUCTS, EVENTS):
        alias = definition.alias(prefix)
        await create_index(client, definition.concrete(prefix), definition, alias=alias)
        pairs = [(document.id, document.document) for document in documents if document.index is definition]
        taken, part = await raw_bulk(client, alias, pairs, chunk_size)
        already = done.done[-1] if done.done else 0
        done.seconds += [seconds + at for at in part.seconds]
        done.done += [already + count for count in part.done]
        seconds += taken
    return seconds, done


async def _drain(container: Container) -> tuple[float, Progress, int]:
    """Run the worker pass by pass from its checkpoint to the outbox head; returns the seconds,
    the progress over time and the number of passes."""
    checkpoint = start = await container.tracking.position()
    head = await container.outbox.head()
    done = Progress()
    started = time.perf_counter()
    passes = 0
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
        passes += 1
        done.mark(started, checkpoint - start)
    return time.perf_counter() - started, done, passes


async def _count(run: Run, alias: str) -> int:
    response = await run.elasticsearch.count(index=alias)
    return int(response["count"])


BENCHMARK = Benchmark("B1", "sync worker throughput", full=Sizes(events=50_000), smoke=Sizes(events=1_000), run=run)
