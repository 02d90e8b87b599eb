from __future__ import annotations

from decimal import Decimal

import pytest

from write_model.errors import ValidationFailed
from write_model.money import money_text
from write_model.validation import Checks


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        (Decimal("-0.01"), "must not be negative"),
        (Decimal("1.001"), "must have at most 2 decimal places"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("1000000000"), "must be less than 1000000000"),
    ],
)
def test_bad_amounts_are_named(amount: Decimal, problem: str) -> None:
    checks = Checks()
    checks.money("price", amount)
    with pytest.raises(ValidationFailed) as raised:
        checks.raise_if_any()
    assert [(p.field, p.message) for p in raised.value.fields] == [("price", problem)]


def test_every_problem_is_reported_with_its_path() -> None:
    checks = Checks()
    checks.text("name", "  ", max_length=10)
    checks.tags("tags", ("ok", "", "x" * 11), max_count=5, max_length=10)
    with pytest.raises(ValidationFailed) as raised:
        checks.raise_if_any()
    assert [p.field for p in raised.value.fields] == ["name", "tags.1", "tags.2"]


def test_valid_input_passes() -> None:
    checks = Checks()
    checks.text("name", "Mug", max_length=10)
    checks.money("price", Decimal("0"))
    checks.quantity("initialStock", 0, minimum=0)
    checks.raise_if_any()


def test_money_text_is_canonical() -> None:
    assert money_text(Decimal("5")) == "5.00"
    assert money_text(Decimal("5.1")) == "5.10"
