"""`storefront sync` processes for the fault tests, and waiting on the checkpoint they move."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

from server.bootstrap import Container
from server.settings import Settings
from tests.support import Process, spawn_storefront, wait_until

CATCH_UP_TIMEOUT_S = 120


async def start_worker(settings: Settings, log: Path, **extra: str) -> Process:
    """A `storefront sync` process that polls often and whose lease a survivor takes over within a second."""
    return await spawn_storefront(settings, log, "sync", STOREFRONT_SYNC_POLL_INTERVAL_MS="20",
                                  STOREFRONT_SYNC_LEASE_TTL_S="1", **extra)


async def wait_for_progress(container: Container, beyond: int, timeout_s: float) -> int:
    """Until the checkpoint moves past `beyond`; returns it."""
    async def checkpoint_beyond() -> int | None:
        checkpoint = await container.tracking.position()
        return checkpoint if checkpoint > beyond else None

    return await wait_until(checkpoint_beyond, timeout_s, f"progress beyond {beyond}")


async def caught_up(container: Container) -> None:
    head = await container.outbox.head()
    if await container.tracking.position() < head:
        await wait_for_progress(container, head - 1, CATCH_UP_TIMEOUT_S)


async def lease_holder(container: Container, workers: list[Process]) -> Process | None:
    """The one of `workers` that holds the lease now (its owner name carries its pid), if one does."""
    holder = await container.tracking.lease("observer", timedelta(seconds=1)).holder()
    return next((worker for worker in workers if holder is not None and f":{worker.pid}:" in holder[0]), None)


async def stop(worker: Process) -> int:
    """SIGTERM, and the worker must be gone within a few seconds."""
    worker.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(worker.wait(), 10)
