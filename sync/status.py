"""The write-side half of `syncStatus`: head position and parked events."""

from __future__ import annotations

from write_model.consumers import DeadLetters
from write_model.outbox import Outbox


class WriteSideStatus:
    def __init__(self, outbox: Outbox, dead_letters: DeadLetters) -> None:
        self._outbox = outbox
        self._dead_letters = dead_letters

    async def head_position(self) -> int:
        return await self._outbox.head()

    async def dead_letter_count(self) -> int:
        return await self._dead_letters.count()
