"""A stream of mixed mutations for the fault tests: products, customers, orders."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from server.bootstrap import Container
from write_model.commands import (
    AdjustStock,
    CancelOrder,
    Command,
    CreateProduct,
    OrderLineRequest,
    PlaceOrder,
    RegisterCustomer,
    ShipOrder,
    UpdateProduct,
)
from write_model.results import Accepted


class Workload:
    """Sends `count` commands, mostly valid ones, remembering what exists to refer to it."""

    def __init__(self, container: Container, seed: int) -> None:
        self._bus = container.bus
        self._rng = random.Random(seed)
        self.products: list[str] = []
        self.customers: list[str] = []
        self.orders: list[str] = []
        self.accepted = 0

    async def run(self, count: int, pause_s: float = 0.0) -> None:
        for n in range(count):
            command = self._next(n)
            result = await self._bus.dispatch(command)
            if isinstance(result, Accepted):
                self.accepted += 1
                self._remember(command, result.id)
            if pause_s:
                await asyncio.sleep(pause_s)  # the workload's pace, as the caller asked

    def _next(self, n: int) -> Command:
        rng = self._rng
        if len(self.products) < 5 or rng.random() < 0.15:
            return CreateProduct(sku=f"W-{n}", name=f"Widget {n}", category=rng.choice(["a", "b", "c"]),
                                 price=Decimal(rng.randrange(100, 10_000)) / 100, initial_stock=rng.randrange(50, 200))
        if len(self.customers) < 3 or rng.random() < 0.1:
            return RegisterCustomer(email=f"c{n}@example.com", name=f"Customer {n}")
        roll = rng.random()
        if roll < 0.3:
            products = rng.sample(self.products, k=min(len(self.products), rng.randrange(1, 4)))
            return PlaceOrder(customer_id=rng.choice(self.customers),
                              lines=tuple(OrderLineRequest(p, rng.randrange(1, 4)) for p in products))
        if roll < 0.4 and self.orders:
            return rng.choice([CancelOrder(id=rng.choice(self.orders)), ShipOrder(id=rng.choice(self.orders))])
        if roll < 0.7:
            return AdjustStock(product_id=rng.choice(self.products), delta=rng.randrange(1, 20))
        return UpdateProduct(id=rng.choice(self.products), name=f"Widget v{n}",
                             price=Decimal(rng.randrange(100, 10_000)) / 100)

    def _remember(self, command: Command, aggregate_id: str) -> None:
        created = {CreateProduct: self.products, RegisterCustomer: self.customers, PlaceOrder: self.orders}
        if type(command) in created:
            created[type(command)].append(aggregate_id)
