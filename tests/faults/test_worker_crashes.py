"""Real `storefront sync` processes killed with SIGKILL, and two of them sharing one database."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from asyncio.subprocess import Process
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from server.bootstrap import Container
from server.settings import Settings
from tests.faults.workload import Workload
from tests.support import STOREFRONT, assert_read_model_matches_write_model, environment, wait_until

CATCH_UP_TIMEOUT_S = 120


async def _start_worker(settings: Settings, log: Path, **extra: str) -> Process:
    """A `storefront sync` process logging to a file (a pipe nobody reads would block it)."""
    env = environment(settings, STOREFRONT_SYNC_POLL_INTERVAL_MS="20", STOREFRONT_SYNC_LEASE_TTL_S="1", **extra)
    with log.open("a") as stderr:
        return await asyncio.create_subprocess_exec(
            STOREFRONT, "sync", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )


async def _wait_for_progress(container: Container, beyond: int, timeout_s: float) -> int:
    """Until the checkpoint moves past `beyond`; returns it."""
    async def checkpoint_beyond() -> int | None:
        checkpoint = await container.tracking.position()
        return checkpoint if checkpoint > beyond else None

    return await wait_until(checkpoint_beyond, timeout_s, f"progress beyond {beyond}")


async def _caught_up(container: Container) -> None:
    head = await container.outbox.head()
    if await container.tracking.position() < head:
        await _wait_for_progress(container, head - 1, CATCH_UP_TIMEOUT_S)


async def _stop(worker: Process) -> int:
    """SIGTERM, and the worker must be gone within a few seconds."""
    worker.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(worker.wait(), 10)


async def _kill(worker: Process) -> None:
    if worker.returncode is None:
        worker.kill()
    await worker.wait()


async def test_ten_kill_9s_during_2000_mutations_lose_nothing(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"sync_batch_size": 40})
    workload = Workload(container, seed=10)
    writer = asyncio.create_task(workload.run(2000, pause_s=0.004))
    rng = random.Random(10)
    checkpoints: list[int] = []
    try:
        for _ in range(10):
            worker = await _start_worker(settings, tmp_path / "workers.log")
            try:
                checkpoints.append(await _wait_for_progress(container, max(checkpoints, default=0), 60))
                await asyncio.sleep(rng.uniform(0, 0.3))  # a random moment: mid-bulk, before or after a checkpoint
            finally:
                await _kill(worker)
        assert not writer.done(), "the kills must happen while mutations keep coming"
        await asyncio.wait_for(writer, 120)
    finally:
        writer.cancel()
    assert checkpoints == sorted(checkpoints)  # the checkpoint never went back

    final = await _start_worker(settings, tmp_path / "final.log")
    try:
        await _caught_up(container)
    finally:
        code = await _stop(final)
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
    workers = {await _start_worker(settings, tmp_path / f"worker-{n}.log", **logs): tmp_path / f"worker-{n}.log"
               for n in range(2)}
    observer = container.tracking.lease("observer", timedelta(seconds=1))
    workload = Workload(container, seed=2)
    try:
        await workload.run(300, pause_s=0.002)
        await _caught_up(container)
        holder = await observer.holder()
        assert holder is not None
        active = next(worker for worker in workers if f":{worker.pid}:" in holder[0])

        writer = asyncio.create_task(workload.run(300, pause_s=0.002))
        await _wait_for_progress(container, await container.tracking.position(), 10)  # indexing the new writes
        await _kill(active)  # mid-stream
        killed_at = time.monotonic()
        await _wait_for_progress(container, await container.tracking.position(), 10)
        took_over_s = time.monotonic() - killed_at
        await asyncio.wait_for(writer, 60)
        await _caught_up(container)
        standby = next(worker for worker in workers if worker is not active)
        assert await _stop(standby) == 0
    finally:
        for worker in workers:
            await _kill(worker)
    assert took_over_s < 5, f"the survivor took {took_over_s:.1f}s to take over"
    await assert_read_model_matches_write_model(container)
    # Every checkpointed batch covers positions no other batch covered: no double work, and in order.
    batches = sorted(batch for log in workers.values() for batch in _batches(log.read_text()))
    assert all(earlier[1] < later[0] for earlier, later in pairwise(batches))
    assert batches[-1][1] == await container.outbox.head()
