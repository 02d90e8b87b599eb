"""Output types of the catalog and of the sync status."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="Opaque cursor to pass as `after` for the next page.")


@strawberry.type
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code, e.g. USD.")


@strawberry.type
class FacetBucket:
    value: str
    count: int


@strawberry.enum
class ProductStatus(Enum):
    ACTIVE = "ACTIVE"
    DISCONTINUED = "DISCONTINUED"


@strawberry.type
class Product:
    id: strawberry.ID
    sku: str
    name: str
    description: str
    category: str
    tags: list[str]
    price: Money
    stock: int
    in_stock: bool
    status: ProductStatus
    version: int = strawberry.field(description="Write-model version of the product aggregate this document reflects.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Product:
        return cls(
            id=strawberry.ID(document["id"]),
            sku=document["sku"],
            name=document["name"],
            description=document["description"],
            category=document["category"],
            tags=document["tags"],
            price=Money(amount=Decimal(document["price"]), currency=document["currency"]),
            stock=document["stock"],
            in_stock=document["inStock"],
            status=ProductStatus(document["status"]),
            version=document["version"],
            created_at=datetime.fromisoformat(document["createdAt"]),
            updated_at=datetime.fromisoformat(document["updatedAt"]),
        )


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductFacets:
    category: list[FacetBucket]
    tags: list[FacetBucket]


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo
    total_count: int
    facets: ProductFacets = strawberry.field(
        description="Counts over the whole result set (search + filter), not just this page."
    )


@strawberry.type
class Customer:
    id: strawberry.ID
    email: str
    name: str
    order_count: int = strawberry.field(description="Orders placed and not cancelled.")
    total_spent: Money = strawberry.field(description="Sum of the totals of orders placed and not cancelled.")
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Customer:
        return cls(
            id=strawberry.ID(document["id"]),
            email=document["email"] or "",  # the contract's email is non-null: an erased one reads empty
            name=document["name"],
            order_count=document["orderCount"],
            total_spent=Money(amount=Decimal(document["totalSpent"]), currency=document["currency"]),
            version=document["version"],
            created_at=datetime.fromisoformat(document["createdAt"]),
            updated_at=datetime.fromisoformat(document["updatedAt"]),
        )


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    total_count: int


@strawberry.enum
class OrderStatus(Enum):
    PLACED = "PLACED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"


@strawberry.type
class OrderLine:
    product_id: strawberry.ID
    sku: str = strawberry.field(description="Snapshot of the product at the time the order was placed.")
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


@strawberry.type
class Order:
    id: strawberry.ID
    customer_id: strawberry.ID
    customer_name: str
    status: OrderStatus
    lines: list[OrderLine]
    total: Money
    version: int
    placed_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Order:
        currency = document["currency"]

        def money(amount: str) -> Money:
            return Money(amount=Decimal(amount), currency=currency)

        return cls(
            id=strawberry.ID(document["id"]),
            customer_id=strawberry.ID(document["customerId"]),
            customer_name=document["customerName"],
            status=OrderStatus(document["status"]),
            lines=[
                OrderLine(
                    product_id=strawberry.ID(line["productId"]), sku=line["sku"], name=line["name"],
                    quantity=line["quantity"], unit_price=money(line["unitPrice"]), line_total=money(line["lineTotal"]),
                )
                for line in document["lines"]
            ],
            total=money(document["total"]),
            version=document["version"],
            placed_at=datetime.fromisoformat(document["placedAt"]),
            updated_at=datetime.fromisoformat(document["updatedAt"]),
        )


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class SyncStatus:
    head_position: str = strawberry.field(description="Position of the newest event in the write model.")
    indexed_position: str = strawberry.field(
        description="Position up to which every event is visible in the read model."
    )
    lag: int = strawberry.field(description="Events written but not yet visible in the read model.")
    dead_letters: int = strawberry.field(description="Events the sync worker gave up on (kept, never dropped).")
