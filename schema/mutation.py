"""Mutations: each runs one command through the bus, in one transaction."""

from __future__ import annotations

import strawberry

from schema.auth import caller, require_admin, require_customer_or_admin
from schema.context import Context
from schema.inputs import (
    AdjustStockInput,
    CancelOrderInput,
    CreateProductInput,
    DiscontinueProductInput,
    EraseCustomerInput,
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
        await require_admin(info)
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def update_product(self, info: Info, input: UpdateProductInput) -> ProductResult:
        await require_admin(info)
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def adjust_stock(self, info: Info, input: AdjustStockInput) -> ProductResult:
        await require_admin(info)
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def discontinue_product(self, info: Info, input: DiscontinueProductInput) -> ProductResult:
        await require_admin(info)
        return product_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def register_customer(self, info: Info, input: RegisterCustomerInput) -> CustomerResult:
        await caller(info)
        return customer_result(await info.context.bus.dispatch(input.to_command()))

    @strawberry.mutation
    async def erase_customer(self, info: Info, input: EraseCustomerInput) -> CustomerResult:
        principal = await require_customer_or_admin(info)
        return customer_result(await info.context.bus.dispatch(input.to_command(principal.customer_id)))

    @strawberry.mutation
    async def place_order(self, info: Info, input: PlaceOrderInput) -> OrderResult:
        principal = await require_customer_or_admin(info)
        return order_result(await info.context.bus.dispatch(input.to_command(principal.customer_id)))

    @strawberry.mutation
    async def cancel_order(self, info: Info, input: CancelOrderInput) -> OrderResult:
        principal = await require_customer_or_admin(info)
        return order_result(await info.context.bus.dispatch(input.to_command(principal.customer_id)))

    @strawberry.mutation
    async def ship_order(self, info: Info, input: ShipOrderInput) -> OrderResult:
        await require_admin(info)
        return order_result(await info.context.bus.dispatch(input.to_command()))
