"""Mutation results: the accepted payload or a typed business failure (union members)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.consistency import catch_up, encode_position
from schema.context import Context
from schema.errors import Forbidden
from schema.types import Customer, Order, Product
from write_model import errors
from write_model.results import Accepted


@strawberry.type
class FieldError:
    field: str = strawberry.field(description="Input path, e.g. `lines.0.quantity`.")
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


Info = strawberry.Info[Context, None]


@strawberry.type(description="The command was committed. Reading `product` waits until it is indexed.")
class ProductAccepted:
    id: strawberry.ID
    version: int
    position: str

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        await catch_up(info.context, self.position)
        document = await info.context.products.get(self.id)
        return Product.from_document(document) if document else None


@strawberry.type
class CustomerAccepted:
    id: strawberry.ID
    version: int
    position: str

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        await catch_up(info.context, self.position)
        document = await info.context.customers.get(self.id)
        return Customer.from_document(document) if document else None


@strawberry.type
class OrderAccepted:
    id: strawberry.ID
    version: int
    position: str

    @strawberry.field
    async def order(self, info: Info) -> Order | None:
        await catch_up(info.context, self.position)
        document = await info.context.orders.get(self.id)
        return Order.from_document(document) if document else None


ProductResult = Annotated[
    ProductAccepted | ValidationError | NotFoundError | ConflictError | DuplicateError | InvalidStateError,
    strawberry.union("ProductResult"),
]
CustomerResult = Annotated[
    CustomerAccepted | ValidationError | DuplicateError | NotFoundError | ConflictError | InvalidStateError,
    strawberry.union("CustomerResult"),
]
OrderResult = Annotated[
    OrderAccepted | ValidationError | NotFoundError | ConflictError | InsufficientStockError | InvalidStateError,
    strawberry.union("OrderResult"),
]

Failure = ValidationError | NotFoundError | ConflictError | DuplicateError | InvalidStateError | InsufficientStockError


def product_result(outcome: Accepted | errors.Rejection) -> ProductResult:
    return _result(outcome, ProductAccepted)  # type: ignore[return-value]


def customer_result(outcome: Accepted | errors.Rejection) -> CustomerResult:
    return _result(outcome, CustomerAccepted)  # type: ignore[return-value]


def order_result(outcome: Accepted | errors.Rejection) -> OrderResult:
    return _result(outcome, OrderAccepted)  # type: ignore[return-value]


AcceptedType = type[ProductAccepted] | type[CustomerAccepted] | type[OrderAccepted]


def _result(outcome: Accepted | errors.Rejection, accepted: AcceptedType) -> object:
    """The accepted payload, or the failure as its union member. Each command's handler raises
    only the failures its union holds, so the caller's narrower type is safe to claim."""
    if isinstance(outcome, Accepted):
        return accepted(id=strawberry.ID(outcome.id), version=outcome.version,
                        position=encode_position(outcome.position))
    return failure(outcome)


def failure(rejection: errors.Rejection) -> Failure:
    match rejection:
        case errors.ValidationFailed(message, fields):
            problems = [FieldError(field=problem.field, message=problem.message) for problem in fields]
            return ValidationError(message=message, fields=problems)
        case errors.NotFound(message, id):
            return NotFoundError(message=message, id=strawberry.ID(id))
        case errors.VersionConflict(message, expected, actual):
            return ConflictError(message=message, expected_version=expected, actual_version=actual)
        case errors.Duplicate(message, field):
            return DuplicateError(message=message, field=field)
        case errors.InvalidState(message, status):
            return InvalidStateError(message=message, current_status=status)
        case errors.NotPermitted(message):
            raise Forbidden(message)
        case errors.InsufficientStock(message, product_id, requested, available):
            return InsufficientStockError(message=message, product_id=strawberry.ID(product_id), requested=requested,
                                          available=available)
    raise TypeError(f"no GraphQL type for {type(rejection).__name__}")
