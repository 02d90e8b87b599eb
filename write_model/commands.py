"""Commands: what a caller asks the write model to do. Plain data, validated by the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Command:
    """Base of every command. A command with an idempotency key runs at most once per key."""

    @property
    def idempotency_key(self) -> str | None:
        return None


@dataclass(frozen=True)
class CreateProduct(Command):
    sku: str
    name: str
    category: str
    price: Decimal
    description: str = ""
    tags: tuple[str, ...] = ()
    initial_stock: int = 0
    key: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key


@dataclass(frozen=True)
class UpdateProduct(Command):
    id: str
    expected_version: int | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = None
    tags: tuple[str, ...] | None = None
    price: Decimal | None = None


@dataclass(frozen=True)
class AdjustStock(Command):
    product_id: str
    delta: int
    reason: str | None = None
    expected_version: int | None = None
    key: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key


@dataclass(frozen=True)
class DiscontinueProduct(Command):
    id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RegisterCustomer(Command):
    email: str
    name: str
    key: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key


@dataclass(frozen=True)
class EraseCustomer(Command):
    id: str
    expected_version: int | None = None
    key: str | None = None
    # The customer issuing the command; None when an admin (or the system) does.
    actor: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key


@dataclass(frozen=True)
class OrderLineRequest:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class PlaceOrder(Command):
    customer_id: str
    lines: tuple[OrderLineRequest, ...]
    key: str | None = None
    # The customer issuing the command; None when an admin (or the system) does.
    actor: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key


@dataclass(frozen=True)
class CancelOrder(Command):
    id: str
    expected_version: int | None = None
    reason: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class ShipOrder(Command):
    id: str
    expected_version: int | None = None
