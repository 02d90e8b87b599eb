"""The events a local worker hands to the change feed with the indexed position."""

from __future__ import annotations

from datetime import UTC, datetime

from sync.positions import IndexedPositionTracker
from write_model.events import StoredEvent


async def _never_read() -> int:
    raise AssertionError("a local worker's tracker does not read the checkpoint")


def _events(first: int, last: int) -> list[StoredEvent]:
    return [StoredEvent(position, f"e{position}", "Product", "p1", position, "StockAdjusted", {},
                        datetime.now(UTC)) for position in range(first, last + 1)]


def _positions(events: list[StoredEvent] | None) -> list[int] | None:
    return None if events is None else [event.position for event in events]


async def test_the_handed_events_after_a_position_come_in_order_up_to_the_limit() -> None:
    tracker = IndexedPositionTracker(_never_read)
    tracker.set_local_active(True)
    tracker.advance(10, _events(6, 10))
    assert await tracker.current() == 10
    assert _positions(tracker.indexed_after(5, 500)) == [6, 7, 8, 9, 10]
    assert _positions(tracker.indexed_after(7, 2)) == [8, 9]
    assert _positions(tracker.indexed_after(9, 500)) == [10]


async def test_events_not_handed_over_are_not_made_up() -> None:
    tracker = IndexedPositionTracker(_never_read)
    tracker.set_local_active(True)
    tracker.advance(10, _events(6, 10))
    assert tracker.indexed_after(4, 500) is None  # position 5 was not handed over: read the outbox
    assert tracker.indexed_after(10, 500) is None  # nothing after the indexed position
    tracker.advance(12)  # a pass of several batches hands nothing over
    assert tracker.indexed_after(10, 500) is None
    tracker.advance(11, _events(11, 11))  # not past the indexed position: ignored
    assert tracker.indexed_after(10, 500) is None
