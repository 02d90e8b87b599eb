"""Input types, and their translation into write-model commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from schema.types import OrderStatus, ProductStatus
from write_model import commands


@strawberry.input
class ProductFilter:
    category: list[str] | None = None
    tags: list[str] | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    status: list[ProductStatus] | None = None


@strawberry.input
class CreateProductInput:
    sku: str
    name: str
    description: str | None = ""
    category: str
    tags: list[str] | None = strawberry.field(default_factory=list)
    price: Decimal
    initial_stock: int | None = 0
    idempotency_key: str | None = strawberry.field(
        default=None, description="Same key + same input = same result, the command runs once."
    )

    def to_command(self) -> commands.CreateProduct:
        return commands.CreateProduct(
            sku=self.sku,
            name=self.name,
            description=self.description or "",
            category=self.category,
            tags=tuple(self.tags or ()),
            price=self.price,
            initial_stock=self.initial_stock or 0,
            key=self.idempotency_key,
        )


@strawberry.input
class UpdateProductInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="If given and not the current version, the command fails with ConflictError."
    )
    name: str | None = None
    description: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    price: Decimal | None = None

    def to_command(self) -> commands.UpdateProduct:
        return commands.UpdateProduct(
            id=self.id,
            expected_version=self.expected_version,
            name=self.name,
            description=self.description,
            category=self.category,
            tags=None if self.tags is None else tuple(self.tags),
            price=self.price,
        )


@strawberry.input
class AdjustStockInput:
    product_id: strawberry.ID
    delta: int = strawberry.field(
        description="Positive to receive stock, negative to write it off; stock never goes below 0."
    )
    reason: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None

    def to_command(self) -> commands.AdjustStock:
        return commands.AdjustStock(
            product_id=self.product_id,
            delta=self.delta,
            reason=self.reason,
            expected_version=self.expected_version,
            key=self.idempotency_key,
        )


@strawberry.input
class DiscontinueProductInput:
    id: strawberry.ID
    expected_version: int | None = None

    def to_command(self) -> commands.DiscontinueProduct:
        return commands.DiscontinueProduct(id=self.id, expected_version=self.expected_version)


@strawberry.input
class OrderFilter:
    customer_id: strawberry.ID | None = None
    status: list[OrderStatus] | None = None
    product_id: strawberry.ID | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None


@strawberry.input
class RegisterCustomerInput:
    email: str
    name: str
    idempotency_key: str | None = None

    def to_command(self) -> commands.RegisterCustomer:
        return commands.RegisterCustomer(email=self.email, name=self.name, key=self.idempotency_key)


@strawberry.input
class EraseCustomerInput:
    id: strawberry.ID
    expected_version: int | None = None
    idempotency_key: str | None = None

    def to_command(self, actor: str | None) -> commands.EraseCustomer:
        return commands.EraseCustomer(id=self.id, expected_version=self.expected_version, key=self.idempotency_key,
                                      actor=actor)


@strawberry.input
class OrderLineInput:
    product_id: strawberry.ID
    quantity: int


@strawberry.input
class PlaceOrderInput:
    customer_id: strawberry.ID
    lines: list[OrderLineInput]
    idempotency_key: str | None = None

    def to_command(self, actor: str | None) -> commands.PlaceOrder:
        return commands.PlaceOrder(
            customer_id=self.customer_id,
            lines=tuple(commands.OrderLineRequest(line.product_id, line.quantity) for line in self.lines),
            key=self.idempotency_key,
            actor=actor,
        )


@strawberry.input
class CancelOrderInput:
    id: strawberry.ID
    expected_version: int | None = None
    reason: str | None = None

    def to_command(self, actor: str | None) -> commands.CancelOrder:
        return commands.CancelOrder(id=self.id, expected_version=self.expected_version, reason=self.reason,
                                    actor=actor)


@strawberry.input
class ShipOrderInput:
    id: strawberry.ID
    expected_version: int | None = None

    def to_command(self) -> commands.ShipOrder:
        return commands.ShipOrder(id=self.id, expected_version=self.expected_version)
