"""Mutations: each runs one command through the bus, in one transaction."""

from __future__ import annotations

import strawberry

from schema.context import Context
from schema.inputs import (
    AdjustStockInput,
    CancelOrderInput,
    CreateProductInput,
    DiscontinueProductInput,
    PlaceOrderInput,
    RegisterCustomerInput,
    ShipOrderInput,
    UpdateProductInput,
)
from schema.results import CustomerResult, OrderResult, ProductResult, customer_result, order_result, product_result

Info = strawberry.Info[Context, None]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_product(self, info: Info, input: CreateProductInput) -> ProductResult:
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def update_product(self, info: Info, input: UpdateProductInput) -> ProductResult:
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def adjust_stock(self, info: Info, input: AdjustStockInput) -> ProductResult:
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def discontinue_product(self, info: Info, input: DiscontinueProductInput) -> ProductResult:
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def register_customer(self, info: Info, input: RegisterCustomerInput) -> CustomerResult:
        return customer_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def place_order(self, info: Info, input: PlaceOrderInput) -> OrderResult:
        return order_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def cancel_order(self, info: Info, input: CancelOrderInput) -> OrderResult:
        return order_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def ship_order(self, info: Info, input: ShipOrderInput) -> OrderResult:
        return order_result(await info.context.bus.dispatch(input.to_command()))
