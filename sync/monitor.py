"""Samples how far the read model lags behind, for /metrics, syncStatus and readiness."""

from __future__ import annotations

import asyncio
import logging
import time

from sync.metrics import SyncMetrics
from write_model.consumers import DeadLetters, Tracking
from write_model.outbox import Outbox

log = logging.getLogger(__name__)


class SyncMonitor:
    """A worker that makes no progress while events wait is "stalled": that is the failure
    that otherwise looks healthy, so readiness reports it after `stall_after_s`."""

    def __init__(
        self, outbox: Outbox, tracking: Tracking, dead_letters: DeadLetters, metrics: SyncMetrics, stall_after_s: float
    ) -> None:
        self._outbox = outbox
        self._tracking = tracking
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._stall_after_s = stall_after_s
        self._indexed = -1
        self._progress_at = time.monotonic()
        self._lag = 0

    async def run(self, interval_s: float = 1.0) -> None:
        """Sample every `interval_s`, for /metrics and readiness, until cancelled."""
        while True:
            try:
                await self.sample()
            except Exception:  # the database may be down; readiness reports that on its own
                log.debug("sync monitor could not sample", exc_info=True)
            await asyncio.sleep(interval_s)

    async def sample(self) -> None:
        head = await self._outbox.head()
        indexed = await self._tracking.position()
        now = time.monotonic()
        if indexed != self._indexed or indexed >= head:
            self._indexed, self._progress_at = indexed, now
        self._lag = max(head - indexed, 0)
        self._metrics.head_position.set(head)
        self._metrics.indexed_position.set(indexed)
        self._metrics.lag.set(self._lag)
        self._metrics.dead_letters.set(await self._dead_letters.count())

    def stalled(self) -> str | None:
        """Why the worker counts as stalled, or None."""
        idle_s = time.monotonic() - self._progress_at
        if self._lag > 0 and idle_s > self._stall_after_s:
            return f"sync worker stalled: {self._lag} events waiting, no progress for {idle_s:.0f}s"
        return None
