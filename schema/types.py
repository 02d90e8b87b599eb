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


@strawberry.enum
class ProductSort(Enum):
    RELEVANCE = "RELEVANCE"
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NAME = "NAME"


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
class SyncStatus:
    head_position: str = strawberry.field(description="Position of the newest event in the write model.")
    indexed_position: str = strawberry.field(
        description="Position up to which every event is visible in the read model."
    )
    lag: int = strawberry.field(description="Events written but not yet visible in the read model.")
    dead_letters: int = strawberry.field(description="Events the sync worker gave up on (kept, never dropped).")
