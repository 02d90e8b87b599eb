"""A subscriber's buffer in the change feed (sync.changes): bounded, in order, ended on overflow or cut-off."""

from __future__ import annotations

import asyncio

from sync.changes import Change, _Subscriber

CAPACITY = 3


def _change(position: int, stream_id: str = "p-1") -> Change:
    return Change("Product", stream_id, "StockAdjusted", position, None, {"id": stream_id})


def _watching(stream_id: str) -> _Subscriber:
    return _Subscriber(lambda change: change.stream_id == stream_id, CAPACITY)


async def _drain(subscriber: _Subscriber) -> list[int | None]:
    """What the subscriber's stream yields, up to its end (None); a stream that never ends fails."""
    received: list[int | None] = []
    async with asyncio.timeout(5):
        while (change := await subscriber.next()) is not None:
            received.append(change.position)
    return [*received, None]


async def test_what_fits_comes_out_in_the_order_given() -> None:
    subscriber = _watching("p-1")
    for position in (1, 2, 3):
        subscriber.offer(_change(position))
    subscriber.cut()
    assert await _drain(subscriber) == [1, 2, 3, None]


async def test_an_offer_beyond_capacity_overflows_and_ends_the_stream_at_once() -> None:
    subscriber = _watching("p-1")
    for position in range(1, CAPACITY + 2):
        subscriber.offer(_change(position))
    # A stream with a gap would break "every change, in order": nothing more comes, not even the buffer.
    assert await subscriber.next() is None
    subscriber.offer(_change(CAPACITY + 2))
    assert await subscriber.next() is None
    assert not subscriber.cut_off


async def test_cut_ends_the_stream_after_what_it_was_given() -> None:
    subscriber = _watching("p-1")
    subscriber.offer(_change(1))
    subscriber.offer(_change(2))
    subscriber.cut()
    subscriber.cut()  # a second cut-off adds no second end
    subscriber.offer(_change(3))  # after the cut-off: not given
    assert subscriber.cut_off
    assert await _drain(subscriber) == [1, 2, None]


async def test_a_full_buffer_can_still_be_cut_off() -> None:
    subscriber = _watching("p-1")
    for position in range(1, CAPACITY + 1):
        subscriber.offer(_change(position))
    subscriber.cut()
    assert await _drain(subscriber) == [1, 2, 3, None]


async def test_changes_that_do_not_match_are_ignored_and_take_no_room() -> None:
    subscriber = _watching("p-1")
    for position in range(1, 11):
        subscriber.offer(_change(position, stream_id="p-2"))
    subscriber.offer(_change(11))
    subscriber.cut()
    assert await _drain(subscriber) == [11, None]
