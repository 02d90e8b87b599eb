"""What a committed command returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """The command committed: the aggregate's id and new version, and the position of its last event."""

    id: str
    version: int
    position: int
