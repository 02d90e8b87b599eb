from __future__ import annotations

from decimal import Decimal

import pytest

from write_model.money import from_minor_units, minor_units_at_least, minor_units_at_most, to_minor_units


@pytest.mark.parametrize(("text", "minor"), [("12.50", 1250), ("0.05", 5), ("0.00", 0), ("999999999.99", 99999999999)])
def test_decimal_text_and_minor_units_convert_both_ways(text: str, minor: int) -> None:
    assert to_minor_units(text) == minor
    assert from_minor_units(minor) == text


def test_text_without_all_decimals_still_converts() -> None:
    assert to_minor_units("5") == 500
    assert to_minor_units("5.1") == 510


@pytest.mark.parametrize(("amount", "at_least", "at_most"), [
    (Decimal("12.50"), 1250, 1250),
    (Decimal("12.505"), 1251, 1250),
    (Decimal("0.001"), 1, 0),
    (Decimal("7"), 700, 700),
])
def test_filter_bounds_round_inwards_to_whole_minor_units(amount: Decimal, at_least: int, at_most: int) -> None:
    assert minor_units_at_least(amount) == at_least
    assert minor_units_at_most(amount) == at_most
