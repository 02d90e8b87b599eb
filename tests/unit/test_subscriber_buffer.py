"""A subscriber's buffer in the change feed (sync.changes): bounded, in order, ended on overflow or
cut-off; and which watched streams a change concerns."""

from __future__ import annotations

import asyncio

from sync.changes import Change, Interest, Member, interests_in

CAPACITY = 3


def _buffer() -> Member[str]:
    return Member(CAPACITY)


def _offer(member: Member[str], *positions: int) -> None:
    for position in positions:
        member.offer(position, f"notification {position}")


async def _drain(member: Member[str]) -> list[int | None]:
    """The positions the subscriber's stream yields, up to its end (None); a stream that never ends fails."""
    received: list[int | None] = []
    async with asyncio.timeout(5):
        while (next_one := await member.next()) is not None:
            position, notification = next_one
            assert notification == f"notification {position}"
            received.append(position)
    return [*received, None]


async def test_what_fits_comes_out_in_the_order_given() -> None:
    member = _buffer()
    _offer(member, 1, 2, 3)
    member.cut()
    assert await _drain(member) == [1, 2, 3, None]


async def test_a_waiting_subscriber_wakes_for_each_notification() -> None:
    member = _buffer()
    waiting = asyncio.ensure_future(member.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    _offer(member, 7)
    assert await asyncio.wait_for(waiting, 5) == (7, "notification 7")


async def test_an_offer_beyond_capacity_overflows_and_ends_the_stream_at_once() -> None:
    member = _buffer()
    _offer(member, *range(1, CAPACITY + 2))
    # A stream with a gap would break "every change, in order": nothing more comes, not even the buffer.
    assert await member.next() is None
    _offer(member, CAPACITY + 2)
    assert await member.next() is None
    assert not member.cut_off


async def test_cut_ends_the_stream_after_what_it_was_given() -> None:
    member = _buffer()
    _offer(member, 1, 2)
    member.cut()
    member.cut()  # a second cut-off adds no second end
    _offer(member, 3)  # after the cut-off: not given
    assert member.cut_off
    assert await _drain(member) == [1, 2, None]


async def test_a_full_buffer_can_still_be_cut_off() -> None:
    member = _buffer()
    _offer(member, *range(1, CAPACITY + 1))
    member.cut()
    assert await _drain(member) == [1, 2, 3, None]


def test_a_change_concerns_the_cohorts_of_its_stream_its_customer_and_its_type() -> None:
    order = Change("order", "o-1", "OrderPlaced", 5, "c-1", None)
    assert interests_in(order) == {Interest("order"), Interest("order", "o-1"), Interest("order", None, "c-1"),
                                   Interest("order", "o-1", "c-1")}
    assert all(interest.matches(order) for interest in interests_in(order))
    for elsewhere in (Interest("product"), Interest("order", "o-2"), Interest("order", None, "c-2"),
                      Interest("order", "o-1", "c-2")):
        assert not elsewhere.matches(order)
        assert elsewhere not in interests_in(order)
    product = Change("product", "p-1", "StockAdjusted", 6, None, None)
    assert interests_in(product) == {Interest("product"), Interest("product", "p-1")}
