"""A stream of mixed mutations for the fault tests: products, customers, orders; run in this
process through a container's command bus, or sent over HTTP to API processes."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx

from server.bootstrap import Container
from tests.faults.write_model_audit import Answered
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

# Runs a command and returns its result: Accepted, or anything else for a command that did not commit.
Dispatch = Callable[[Command], Awaitable[object]]


class Workload:
    """Sends `count` commands, mostly valid ones, remembering what exists to refer to it; through
    `target`: a container's command bus, or a dispatch of its own (such as `OverHttp`)."""

    def __init__(self, target: Container | Dispatch, seed: int) -> None:
        self._dispatch = target.bus.dispatch if isinstance(target, Container) else target
        self._rng = random.Random(seed)
        self.products: list[str] = []
        self.customers: list[str] = []
        self.orders: list[str] = []
        self.accepted = 0

    async def run(self, count: int, pause_s: float = 0.0, senders: int = 1, until: asyncio.Event | None = None
                  ) -> None:
        """`senders` send at once, each its next command once its last one was answered; once `until`
        is set, each stops after its command in flight (so that nothing commits after `run` returns)."""
        numbers = iter(range(count))

        async def send() -> None:
            for n in numbers:
                if until is not None and until.is_set():
                    return
                command = self._next(n)
                result = await self._dispatch(command)
                if isinstance(result, Accepted):
                    self.accepted += 1
                    self._remember(command, result.id)
                if pause_s:
                    await asyncio.sleep(pause_s)  # the workload's pace, as the caller asked

        await asyncio.gather(*(send() for _ in range(senders)))

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


# Per command: its mutation, the aggregate its answer names, and the event type of the answer's position.
_MUTATIONS: dict[type[Command], tuple[str, str, str]] = {
    CreateProduct: ("createProduct", "Product", "ProductCreated"),
    UpdateProduct: ("updateProduct", "Product", "ProductUpdated"),
    AdjustStock: ("adjustStock", "Product", "StockAdjusted"),
    RegisterCustomer: ("registerCustomer", "Customer", "CustomerRegistered"),
    PlaceOrder: ("placeOrder", "Order", "OrderPlaced"),
    CancelOrder: ("cancelOrder", "Order", "OrderCancelled"),
    ShipOrder: ("shipOrder", "Order", "OrderShipped"),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _graphql_input(value: Any) -> Any:
    """A command (or a part of one) as its GraphQL input: camelCase fields, decimals as text."""
    if dataclasses.is_dataclass(value):
        return {("idempotencyKey" if field.name == "key" else _camel(field.name)): _graphql_input(given)
                for field in dataclasses.fields(value) if (given := getattr(value, field.name)) is not None}
    if isinstance(value, tuple):
        return [_graphql_input(item) for item in value]
    return str(value) if isinstance(value, Decimal) else value


def mutation_client(url: str) -> httpx.AsyncClient:
    """A client for `OverHttp` that drops idle connections well before uvicorn closes them (after
    5 s): a mutation sent on a connection the server is just closing fails, and may not be resent."""
    return httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(keepalive_expiry=2))


class OverHttp:
    """A `Dispatch` that sends each command as its GraphQL mutation, to each client in turn. It keeps
    what was accepted and the errors answered (by code and message); a command refused for a business
    rule comes back as its answer's `__typename`. With `answers_may_be_lost` (API processes that may be
    killed, behind a proxy), a request that dies with its process (the connection fails, or the
    proxy answers 502) is counted in `unanswered` instead of failing the test."""

    def __init__(self, clients: list[httpx.AsyncClient], *, answers_may_be_lost: bool = False) -> None:
        self._clients = itertools.cycle(clients)
        self._answers_may_be_lost = answers_may_be_lost
        self.answered: list[Answered] = []
        self.errors: Counter[tuple[str, str]] = Counter()
        self.unanswered = 0

    async def __call__(self, command: Command) -> Accepted | str | None:
        mutation, kind, event_type = _MUTATIONS[type(command)]
        document = (f"mutation($input: {mutation[0].upper()}{mutation[1:]}Input!) {{ {mutation}(input: $input) {{ "
                    f"__typename ... on {kind}Accepted {{ id version position }} }} }}")
        try:
            response = await next(self._clients).post(
                "/graphql", json={"query": document, "variables": {"input": _graphql_input(command)}})
        except httpx.TransportError:
            if not self._answers_may_be_lost:
                raise
            response = None
        if response is None or (self._answers_may_be_lost and response.status_code == httpx.codes.BAD_GATEWAY):
            self.unanswered += 1
            return None
        assert response.status_code == 200, response.text
        body = response.json()
        if "errors" in body:
            self.errors.update((error["extensions"]["code"], error["message"]) for error in body["errors"])
            return None
        result = body["data"][mutation]
        if result["__typename"] != f"{kind}Accepted":
            return str(result["__typename"])
        accepted = Accepted(result["id"], result["version"], int(result["position"]))
        self.answered.append(Answered(kind.lower(), event_type, accepted.id, accepted.version, accepted.position))
        return accepted
