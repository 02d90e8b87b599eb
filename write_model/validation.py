"""Input checks that collect every problem with its field path before rejecting."""

from __future__ import annotations

from decimal import Decimal

from write_model.errors import FieldProblem, ValidationFailed
from write_model.money import MONEY_DECIMALS

MAX_MONEY = Decimal("1000000000")
MAX_QUANTITY = 1_000_000_000


class Checks:
    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append(FieldProblem(field, message))

    def text(self, field: str, value: str | None, *, max_length: int, required: bool = True) -> None:
        if value is None:
            return
        if required and not value.strip():
            self.fail(field, "must not be blank")
        elif len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters")

    def tags(self, field: str, values: tuple[str, ...] | None, *, max_count: int, max_length: int) -> None:
        if values is None:
            return
        if len(values) > max_count:
            self.fail(field, f"must hold at most {max_count} tags")
            return
        for index, value in enumerate(values):
            self.text(f"{field}.{index}", value, max_length=max_length)

    def money(self, field: str, value: Decimal | None) -> None:
        if value is None:
            return
        if not value.is_finite():
            self.fail(field, "must be a finite number")
        elif value < 0:
            self.fail(field, "must not be negative")
        elif value >= MAX_MONEY:
            self.fail(field, f"must be less than {MAX_MONEY}")
        elif -value.as_tuple().exponent > MONEY_DECIMALS:  # type: ignore[operator]
            self.fail(field, f"must have at most {MONEY_DECIMALS} decimal places")

    def quantity(self, field: str, value: int, *, minimum: int) -> None:
        if value < minimum:
            self.fail(field, f"must be at least {minimum}")
        elif value > MAX_QUANTITY:
            self.fail(field, f"must be at most {MAX_QUANTITY}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationFailed("The input is invalid.", list(self.problems))

