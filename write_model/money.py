"""Amounts of money: exact decimal text for people, whole minor units (cents) for everything else.

The one place that knows how many decimals an amount has. Events carry minor units; the sync
projection turns them back into text for display, and the query side turns a decimal filter
bound into the minor units the read model indexes.
"""

from __future__ import annotations

import math
from decimal import Decimal

MONEY_DECIMALS = 2


def money_text(value: Decimal) -> str:
    """Canonical text of an amount, e.g. Decimal('5') -> '5.00'."""
    return str(value.quantize(Decimal(1).scaleb(-MONEY_DECIMALS)))


def to_minor_units(amount: str) -> int:
    """'12.50' -> 1250, for amounts already checked to have at most MONEY_DECIMALS decimals."""
    return int(Decimal(amount).scaleb(MONEY_DECIMALS))


def from_minor_units(minor: int) -> str:
    """1250 -> '12.50'."""
    return money_text(Decimal(minor).scaleb(-MONEY_DECIMALS))


def minor_units_at_least(amount: Decimal) -> int:
    """The smallest whole number of minor units that is not below `amount` (a filter's lower bound)."""
    return math.ceil(amount.scaleb(MONEY_DECIMALS))


def minor_units_at_most(amount: Decimal) -> int:
    """The largest whole number of minor units that is not above `amount` (a filter's upper bound)."""
    return math.floor(amount.scaleb(MONEY_DECIMALS))
