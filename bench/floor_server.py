"""The floor of our HTTP stack (W1, W2's baseline): uvicorn + starlette + strawberry with strawberry's
ParserCache and ValidationCache, serving `createProduct` and `placeOrder` with the served schema's
signatures and result unions, and doing nothing else. No SQL, no command bus, no middleware: what
a mutation costs before our code runs. Served by `python -m uvicorn bench.floor_server:app`
(see `bench.common.server.serve_floor`)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

CACHE_SIZE = 512


@strawberry.input
class CreateProductInput:
    sku: str
    name: str
    description: str | None = ""
    category: str
    tags: list[str] | None = strawberry.field(default_factory=list)
    price: Decimal
    initial_stock: int | None = 0
    idempotency_key: str | None = None


@strawberry.input
class OrderLineInput:
    product_id: strawberry.ID
    quantity: int


@strawberry.input
class PlaceOrderInput:
    customer_id: strawberry.ID
    lines: list[OrderLineInput]
    idempotency_key: str | None = None


@strawberry.type
class FieldError:
    field: str
    message: str


@strawberry.type
class ValidationError:
    message: str
    fields: list[FieldError]


@strawberry.type
class NotFoundError:
    message: str
    id: strawberry.ID


@strawberry.type
class ConflictError:
    message: str
    expected_version: int | None
    actual_version: int


@strawberry.type
class DuplicateError:
    message: str
    field: str


@strawberry.type
class InvalidStateError:
    message: str
    current_status: str


@strawberry.type
class InsufficientStockError:
    message: str
    product_id: strawberry.ID
    requested: int
    available: int


@strawberry.type
class ProductAccepted:
    id: strawberry.ID
    version: int
    position: str


@strawberry.type
class OrderAccepted:
    id: strawberry.ID
    version: int
    position: str


ProductResult = Annotated[
    ProductAccepted | ValidationError | NotFoundError | ConflictError | DuplicateError | InvalidStateError,
    strawberry.union("ProductResult"),
]
OrderResult = Annotated[
    OrderAccepted | ValidationError | NotFoundError | ConflictError | InsufficientStockError | InvalidStateError,
    strawberry.union("OrderResult"),
]


@strawberry.type
class Query:
    @strawberry.field
    def ready(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_product(self, input: CreateProductInput) -> ProductResult:
        return ProductAccepted(id=strawberry.ID(str(uuid.uuid4())), version=1, position="1")

    @strawberry.mutation
    async def place_order(self, input: PlaceOrderInput) -> OrderResult:
        return OrderAccepted(id=strawberry.ID(str(uuid.uuid4())), version=1, position="1")


# Factories, as strawberry asks: both caches live at module level, shared by every request.
schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[lambda: ParserCache(maxsize=CACHE_SIZE),
                                                                       lambda: ValidationCache(maxsize=CACHE_SIZE)])


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"]), Route("/healthz", healthz)])
