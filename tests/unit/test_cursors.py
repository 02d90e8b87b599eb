from __future__ import annotations

import pytest

from read_model.errors import InvalidCursor
from read_model.search import decode_cursor, encode_cursor


def test_a_cursor_round_trips_for_its_own_order() -> None:
    cursor = encode_cursor("PRICE_ASC", [1250, "p-1"])
    assert decode_cursor(cursor, "PRICE_ASC", 2) == [1250, "p-1"]


def test_a_cursor_of_another_order_is_refused() -> None:
    cursor = encode_cursor("PRICE_ASC", [1250, "p-1"])
    with pytest.raises(InvalidCursor, match="different query or sort order"):
        decode_cursor(cursor, "NAME", 2)


@pytest.mark.parametrize("garbage", ["", "not-base64!", "eyJ4IjoxfQ", "W10", "eyJvIjoiTkFNRSIsInYiOlt7fSwxXX0"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage, "NAME", 2)
