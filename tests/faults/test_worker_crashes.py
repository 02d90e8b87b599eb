"""Real `storefront sync` processes killed with SIGKILL, and two of them sharing one database."""

from __future__ import annotations

import asyncio
import json
import random
import time
from itertools import pairwise
from pathlib import Path

from server.bootstrap import Container
from server.settings import Settings
from tests.faults.workers import caught_up, lease_holder, start_worker, stop, wait_for_progress
from tests.faults.workload import Workload
from tests.support import assert_read_model_matches_write_model, kill, wait_until

CATCH_UP_TIMEOUT_S = 120
MUTATIONS_AT_MOST = 20_000


async def test_ten_kill_9s_during_2000_mutations_lose_nothing(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"sync_batch_size": 40})
    workload = Workload(container, seed=10)
    # Bounded, and stopped once the kills are done and enough went through: how long 2000 commands
    # take depends on the write path's speed, the kills' pace on process start-up.
    writer = asyncio.create_task(workload.run(MUTATIONS_AT_MOST, pause_s=0.004))
    rng = random.Random(10)
    checkpoints: list[int] = []
    try:
        for _ in range(10):
            worker = await start_worker(settings, tmp_path / "workers.log")
            try:
                checkpoints.append(await wait_for_progress(container, max(checkpoints, default=0), 60))
                await asyncio.sleep(rng.uniform(0, 0.3))  # a random moment: mid-bulk, before or after a checkpoint
            finally:
                await kill(worker)
        assert not writer.done(), "the kills must happen while mutations keep coming"
        await wait_until(lambda: workload.accepted > 1500 or writer.done(), CATCH_UP_TIMEOUT_S,
                         lambda: f"1500 accepted mutations; {workload.accepted} so far")
    finally:
        writer.cancel()  # a command already dispatched still commits (CommandBus shields it)
        await asyncio.gather(writer, return_exceptions=True)
    assert checkpoints == sorted(checkpoints)  # the checkpoint never went back

    final = await start_worker(settings, tmp_path / "final.log")
    try:
        await caught_up(container)
    finally:
        code = await stop(final)
    assert code == 0, (tmp_path / "final.log").read_text()
    assert workload.accepted > 1500
    await assert_read_model_matches_write_model(container)


def _batches(stderr: str) -> list[tuple[int, int]]:
    """The (first, last) positions of every batch a worker logged as indexed and checkpointed."""
    batches = []
    for line in stderr.splitlines():
        if line.startswith("{") and (record := json.loads(line)).get("message") == "indexed batch":
            batches.append((record["first_position"], record["last_position"]))
    return batches


async def test_two_workers_share_the_work_and_the_survivor_takes_over(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"sync_batch_size": 20})
    logs = {"STOREFRONT_LOG_LEVEL": "DEBUG", "STOREFRONT_LOG_FORMAT": "json"}
    workers = {await start_worker(settings, tmp_path / f"worker-{n}.log", **logs): tmp_path / f"worker-{n}.log"
               for n in range(2)}
    workload = Workload(container, seed=2)
    try:
        await workload.run(300, pause_s=0.002)
        await caught_up(container)
        active = await lease_holder(container, list(workers))
        assert active is not None

        writer = asyncio.create_task(workload.run(300, pause_s=0.002))
        await wait_for_progress(container, await container.tracking.position(), 10)  # indexing the new writes
        await kill(active)  # mid-stream
        killed_at = time.monotonic()
        await wait_for_progress(container, await container.tracking.position(), 10)
        took_over_s = time.monotonic() - killed_at
        await asyncio.wait_for(writer, 60)
        await caught_up(container)
        standby = next(worker for worker in workers if worker is not active)
        assert await stop(standby) == 0
    finally:
        for worker in workers:
            await kill(worker)
    assert took_over_s < 5, f"the survivor took {took_over_s:.1f}s to take over"
    await assert_read_model_matches_write_model(container)
    # Every checkpointed batch covers positions no other batch covered: no double work, and in order.
    batches = sorted(batch for log in workers.values() for batch in _batches(log.read_text()))
    assert all(earlier[1] < later[0] for earlier, later in pairwise(batches))
    assert batches[-1][1] == await container.outbox.head()
