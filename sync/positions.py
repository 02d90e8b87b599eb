"""How far the read model has caught up, and waiting for it (read-your-writes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from write_model.events import StoredEvent

# Without a worker in this process, the checkpoint is polled from the database this often.
POLL_INTERVAL_S = 0.05


class IndexedPositionTracker:
    """Tracks the indexed position: the position up to which every event is searchable.

    While this process's worker holds the lease it calls `advance` after each refreshed
    batch; otherwise (`serve --no-sync`, or another process holds the lease) the durable
    checkpoint is read instead. The worker may hand over the events it just indexed, so the
    change feed need not read them from the outbox again.
    """

    def __init__(self, read_checkpoint: Callable[[], Awaitable[int]]) -> None:
        self._read_checkpoint = read_checkpoint
        self._position = 0
        self._changed = asyncio.Event()
        self._local_worker = False
        self._indexed: Sequence[StoredEvent] = ()

    def set_local_active(self, active: bool) -> None:
        self._local_worker = active

    @property
    def local_active(self) -> bool:
        """Whether this process's worker holds the lease now."""
        return self._local_worker

    def advance(self, position: int, indexed: Sequence[StoredEvent] = ()) -> None:
        """`indexed`, if given, are the events up to `position` that were just indexed, in order."""
        if position > self._position:
            self._position = position
            self._indexed = indexed
            self._changed.set()
            self._changed = asyncio.Event()

    def indexed_after(self, position: int, limit: int) -> list[StoredEvent] | None:
        """The next `limit` events after `position` from those the worker handed over last, or None
        when they do not start right after it (the caller reads the outbox then)."""
        indexed = self._indexed
        if not indexed or not indexed[0].position <= position + 1 <= indexed[-1].position:
            return None
        start = position + 1 - indexed[0].position  # positions have no gaps
        return list(indexed[start:start + limit])

    async def current(self) -> int:
        if not self._local_worker:
            self.advance(await self._read_checkpoint())
        return self._position

    async def wait_for(self, position: int, timeout_s: float) -> bool:
        """True once `position` is searchable; False if that did not happen within the timeout."""
        deadline = time.monotonic() + timeout_s
        # A position already seen indexed stays so: no need to ask the database (which may be away).
        while self._position < position and await self.current() < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # A local worker wakes us; still look again now and then, in case it lost the lease.
            slice_s = min(remaining, 1.0 if self._local_worker else POLL_INTERVAL_S)
            # asyncio.timeout, unlike wait_for on 3.11, starts no task for each wait.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(slice_s):
                    await self._changed.wait()
        return True
