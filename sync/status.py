"""The write-side half of `syncStatus`: head position and parked events."""

from __future__ import annotations

from write_model.outbox import Outbox


class SyncState:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def head_position(self) -> int:
        return await self._outbox.head()

    async def dead_letter_count(self) -> int:
        # The worker retries every failed batch until it succeeds and never parks an event,
        # so there are none to count.
        return 0
