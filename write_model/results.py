"""What a committed command returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """The command committed: the aggregate's id and new version, and the position of its last event.

    A handler records its aggregate's own event last, so these are that event's stream id,
    stream version and position: the unit of work reads an idempotency record off it.
    """

    id: str
    version: int
    position: int
