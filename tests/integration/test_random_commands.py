"""Random programs of commands through the real bus, SQLite file and Elasticsearch node.

A small model predicts each command's outcome; after every command the write model must hold
the stock and versions the model expects, and after draining the worker Elasticsearch must hold
exactly what the write model says, also when every event is replayed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from read_model.indices import ALL_INDICES, CUSTOMERS, ORDERS, PRODUCTS, ensure_indices
from server.bootstrap import Container, build, migrate
from server.settings import Settings
from tests.support import assert_read_model_matches_write_model, drain, indexed, stored_products
from write_model.commands import (
    AdjustStock,
    CancelOrder,
    Command,
    CreateProduct,
    DiscontinueProduct,
    OrderLineRequest,
    PlaceOrder,
    RegisterCustomer,
    ShipOrder,
    UpdateProduct,
)
from write_model.errors import (
    Duplicate,
    InsufficientStock,
    InvalidState,
    NotFound,
    Rejection,
    ValidationFailed,
    VersionConflict,
)
from write_model.orders import CANCELLED, PLACED, SHIPPED
from write_model.products import ACTIVE, DISCONTINUED
from write_model.results import Accepted

UNKNOWN_ID = "no-such-id"

# The expectedVersion a command sends: the current one, an older one (a conflict), or none.
Expectation = Literal["current", "stale", "none"]


# --- The model -------------------------------------------------------------------------------


@dataclass
class ProductState:
    sku: str
    stock: int
    status: str = ACTIVE
    version: int = 1

    def record(self, stock_delta: int = 0, status: str | None = None) -> None:
        """One more event on the product's stream: an adjustment, a reservation, a release..."""
        self.stock += stock_delta
        self.status = status or self.status
        self.version += 1


@dataclass
class OrderState:
    lines: list[tuple[ProductState, int]]
    status: str = PLACED
    version: int = 1

    def record(self, status: str) -> None:
        self.status = status
        self.version += 1


@dataclass(frozen=True)
class Outcome:
    """What the model expects a command to do."""

    rejection: type[Rejection] | None = None
    replay: Accepted | None = None  # a reused idempotency key answers with the earlier result
    events: int = 0  # how many events an accepted command appends to the outbox
    apply: Callable[[Accepted], None] = lambda _: None


class Rejected(Exception):
    """Raised while predicting, like a handler raises, to say which rejection to expect."""

    def __init__(self, kind: type[Rejection]) -> None:
        self.kind = kind


def _reject_if(condition: bool, kind: type[Rejection]) -> None:
    if condition:
        raise Rejected(kind)


Aggregate = TypeVar("Aggregate", ProductState, OrderState)


def _load(aggregates: dict[str, Aggregate], aggregate_id: str, expected_version: int | None) -> Aggregate:
    aggregate = aggregates.get(aggregate_id)
    if aggregate is None:
        raise Rejected(NotFound)
    _reject_if(expected_version not in (None, aggregate.version), VersionConflict)
    return aggregate


@dataclass
class Model:
    """What the write model must hold, built from the accepted results alone."""

    products: dict[str, ProductState] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)  # id -> lower-cased email
    orders: dict[str, OrderState] = field(default_factory=dict)
    idempotent: dict[str, tuple[Command, Accepted]] = field(default_factory=dict)
    sent: list[Command] = field(default_factory=list)
    position: int = 0  # the outbox head

    def predict(self, command: Command) -> Outcome:
        try:
            return self._replay(command) or self._handle(command)
        except Rejected as rejected:
            return Outcome(rejected.kind)

    def accept(self, command: Command, result: Accepted, outcome: Outcome) -> None:
        self.position = result.position
        outcome.apply(result)
        if command.idempotency_key is not None:
            self.idempotent[command.idempotency_key] = (command, result)

    def _replay(self, command: Command) -> Outcome | None:
        key = command.idempotency_key
        if key is None or key not in self.idempotent:
            return None
        earlier, result = self.idempotent[key]
        _reject_if(earlier != command, ValidationFailed)
        return Outcome(replay=result)

    def _handle(self, command: Command) -> Outcome:
        match command:
            case CreateProduct():
                return self._create_product(command)
            case UpdateProduct():
                return self._update_product(command)
            case AdjustStock():
                return self._adjust_stock(command)
            case DiscontinueProduct():
                return self._discontinue_product(command)
            case RegisterCustomer():
                return self._register_customer(command)
            case PlaceOrder():
                return self._place_order(command)
            case CancelOrder():
                return self._cancel_order(command)
            case ShipOrder():
                return self._ship_order(command)
        raise TypeError(f"the model has no rule for {command!r}")

    def _create_product(self, command: CreateProduct) -> Outcome:
        _reject_if(command.initial_stock < 0 or command.price < 0, ValidationFailed)
        _reject_if(any(product.sku == command.sku for product in self.products.values()), Duplicate)

        def add(result: Accepted) -> None:
            self.products[result.id] = ProductState(command.sku, command.initial_stock)

        return Outcome(events=1, apply=add)

    def _update_product(self, command: UpdateProduct) -> Outcome:
        _reject_if(command.price is not None and command.price < 0, ValidationFailed)
        product = _load(self.products, command.id, command.expected_version)
        _reject_if(product.status == DISCONTINUED, InvalidState)
        return Outcome(events=1, apply=lambda _: product.record())

    def _adjust_stock(self, command: AdjustStock) -> Outcome:
        _reject_if(command.delta == 0, ValidationFailed)
        product = _load(self.products, command.product_id, command.expected_version)
        _reject_if(product.stock + command.delta < 0, ValidationFailed)
        return Outcome(events=1, apply=lambda _: product.record(command.delta))

    def _discontinue_product(self, command: DiscontinueProduct) -> Outcome:
        product = _load(self.products, command.id, command.expected_version)
        _reject_if(product.status == DISCONTINUED, InvalidState)
        return Outcome(events=1, apply=lambda _: product.record(status=DISCONTINUED))

    def _register_customer(self, command: RegisterCustomer) -> Outcome:
        email = command.email.strip().lower()
        _reject_if(email in self.customers.values(), Duplicate)
        return Outcome(events=1, apply=lambda result: self.customers.update({result.id: email}))

    def _place_order(self, command: PlaceOrder) -> Outcome:
        product_ids = [line.product_id for line in command.lines]
        _reject_if(
            not command.lines or len(set(product_ids)) < len(product_ids)
            or any(line.quantity < 1 for line in command.lines),
            ValidationFailed,
        )
        _reject_if(command.customer_id not in self.customers, NotFound)
        lines = [(self._orderable(line), line.quantity) for line in command.lines]

        def place(result: Accepted) -> None:
            for product, quantity in lines:
                product.record(-quantity)
            self.orders[result.id] = OrderState(lines)

        return Outcome(events=len(lines) + 1, apply=place)

    def _orderable(self, line: OrderLineRequest) -> ProductState:
        product = _load(self.products, line.product_id, None)
        _reject_if(product.status != ACTIVE, ValidationFailed)
        _reject_if(product.stock < line.quantity, InsufficientStock)
        return product

    def _cancel_order(self, command: CancelOrder) -> Outcome:
        order = _load(self.orders, command.id, command.expected_version)
        _reject_if(order.status != PLACED, InvalidState)

        def cancel(_: Accepted) -> None:
            for product, quantity in order.lines:
                product.record(quantity)
            order.record(CANCELLED)

        return Outcome(events=len(order.lines) + 1, apply=cancel)

    def _ship_order(self, command: ShipOrder) -> Outcome:
        order = _load(self.orders, command.id, command.expected_version)
        _reject_if(order.status != PLACED, InvalidState)
        return Outcome(events=1, apply=lambda _: order.record(SHIPPED))


# --- Operations: what Hypothesis generates, resolved against the model into commands ---------


def _pick_id(aggregates: Mapping[str, object], ref: int) -> str:
    """Counting back from the newest, cycling: any ref means something, and deleting earlier
    steps (as shrinking does) keeps what it means. -1 names nothing."""
    ids = list(aggregates)
    return ids[-1 - ref % len(ids)] if ids and ref >= 0 else UNKNOWN_ID


def _target(
    aggregates: Mapping[str, ProductState | OrderState], ref: int, expectation: Expectation
) -> tuple[str, int | None]:
    """The id a command names and the expectedVersion it sends along."""
    aggregate_id = _pick_id(aggregates, ref)
    aggregate = aggregates.get(aggregate_id)
    if aggregate is None or expectation == "none":
        return aggregate_id, None
    return aggregate_id, aggregate.version - (1 if expectation == "stale" else 0)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _key(number: int | None) -> str | None:
    """Keys come from a small range, so they are reused now and then, mostly with another input."""
    return None if number is None else f"key-{number}"


class Operation(Protocol):
    def command(self, model: Model) -> Command | None: ...


@dataclass(frozen=True)
class Create:
    sku_number: int  # a small range, so SKUs repeat now and then
    initial_stock: int
    price_cents: int
    key_number: int | None

    def command(self, model: Model) -> Command:
        number = self.sku_number
        return CreateProduct(sku=f"SKU-{number}", name=f"Product {number}", category=f"category-{number % 3}",
                             tags=(f"tag-{number % 4}",), price=_money(self.price_cents),
                             initial_stock=self.initial_stock, key=_key(self.key_number))


@dataclass(frozen=True)
class Update:
    product: int
    price_cents: int
    expectation: Expectation

    def command(self, model: Model) -> Command:
        product_id, version = _target(model.products, self.product, self.expectation)
        return UpdateProduct(id=product_id, expected_version=version, price=_money(self.price_cents))


@dataclass(frozen=True)
class Adjust:
    product: int
    delta: int
    expectation: Expectation
    key_number: int | None

    def command(self, model: Model) -> Command:
        product_id, version = _target(model.products, self.product, self.expectation)
        return AdjustStock(product_id=product_id, delta=self.delta, expected_version=version, key=_key(self.key_number))


@dataclass(frozen=True)
class Discontinue:
    product: int
    expectation: Expectation

    def command(self, model: Model) -> Command:
        product_id, version = _target(model.products, self.product, self.expectation)
        return DiscontinueProduct(id=product_id, expected_version=version)


@dataclass(frozen=True)
class Register:
    email_number: int  # a small range, so emails repeat now and then
    shout: bool  # upper case: uniqueness must ignore case
    key_number: int | None

    def command(self, model: Model) -> Command:
        email = f"customer{self.email_number}@example.com"
        return RegisterCustomer(email=email.upper() if self.shout else email, name=f"Customer {self.email_number}",
                                key=_key(self.key_number))


@dataclass(frozen=True)
class Place:
    customer: int
    lines: tuple[tuple[int, int], ...]  # (product ref, quantity)
    key_number: int | None

    def command(self, model: Model) -> Command:
        lines = tuple(OrderLineRequest(_pick_id(model.products, product), quantity)
                      for product, quantity in self.lines)
        return PlaceOrder(customer_id=_pick_id(model.customers, self.customer), lines=lines, key=_key(self.key_number))


@dataclass(frozen=True)
class Cancel:
    order: int
    expectation: Expectation

    def command(self, model: Model) -> Command:
        order_id, version = _target(model.orders, self.order, self.expectation)
        return CancelOrder(id=order_id, expected_version=version)


@dataclass(frozen=True)
class Ship:
    order: int
    expectation: Expectation

    def command(self, model: Model) -> Command:
        order_id, version = _target(model.orders, self.order, self.expectation)
        return ShipOrder(id=order_id, expected_version=version)


@dataclass(frozen=True)
class Resend:
    """A client retrying one of its last requests as it was: a replay if it had an accepted key."""

    back: int

    def command(self, model: Model) -> Command | None:
        return model.sent[-1 - self.back % len(model.sent)] if model.sent else None


refs = st.integers(min_value=-1, max_value=60)
expectations = st.sampled_from(["current", "current", "current", "none", "stale"])
cents = st.integers(min_value=-1, max_value=20_000)  # -1: a negative price
keys = st.none() | st.integers(min_value=0, max_value=60)
order_lines = st.tuples(refs, st.integers(min_value=1, max_value=5))
odd_order_lines = st.tuples(refs, st.integers(min_value=-1, max_value=5))  # zero and negative quantities too


def _weighted(*choices: tuple[int, st.SearchStrategy[Operation]]) -> st.SearchStrategy[Operation]:
    """Weights through sampled_from: one_of drops repeated branches."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )


operations = _weighted(
    (3, st.builds(Create, st.integers(0, 80), st.integers(-1, 25), cents, keys)),
    (4, st.builds(Place, refs, st.lists(order_lines, min_size=1, max_size=3, unique_by=lambda line: line[0])
                  .map(tuple), keys)),
    (1, st.builds(Place, refs, st.lists(odd_order_lines, max_size=3).map(tuple), keys)),
    (2, st.builds(Adjust, refs, st.integers(-10, 10), expectations, keys)),
    (1, st.builds(Update, refs, cents, expectations)),
    (1, st.builds(Discontinue, refs, expectations)),
    (2, st.builds(Register, st.integers(0, 40), st.booleans(), keys)),
    (1, st.builds(Cancel, refs, expectations)),
    (1, st.builds(Ship, refs, expectations)),
    (1, st.builds(Resend, st.integers(0, 3))),
)


# --- Running a program -----------------------------------------------------------------------

STEPS = 200


async def _empty_read_model(container: Container) -> None:
    """Deletes every document; recreating the indices would make each program, and so shrinking
    a failure, much slower. (The dev node has no _delete_by_query.)"""
    prefix = container.settings.index_prefix
    await ensure_indices(container.elasticsearch, prefix)
    response = await container.elasticsearch.search(
        index=[index.alias(prefix) for index in ALL_INDICES], size=10_000, source=False, query={"match_all": {}}
    )
    deletes = [{"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in response["hits"]["hits"]]
    if deletes:
        await container.elasticsearch.bulk(operations=deletes, refresh=True)


async def _fresh_container(settings: Settings, tmp_path: Path) -> Container:
    """A new SQLite file and an empty read model: every program starts from nothing.
    Ids are UUIDs, so no document version can clash with an earlier program's."""
    container = build(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / uuid.uuid4().hex}.db"}),
        local_worker=False,
    )
    await migrate(container)
    await _empty_read_model(container)
    return container


async def _products_in_write_model(container: Container) -> dict[str, ProductState]:
    return {product_id: ProductState(row.sku, row.stock, row.status, row.version)
            for product_id, row in (await stored_products(container)).items()}


async def _run(container: Container, model: Model, command: Command) -> None:
    outcome = model.predict(command)
    result = await container.bus.dispatch(command)
    model.sent.append(command)
    if outcome.rejection is not None:
        assert isinstance(result, outcome.rejection), (command, result)
    elif outcome.replay is not None:
        assert result == outcome.replay, (command, result)
    else:
        assert isinstance(result, Accepted), (command, result)
        assert result.position == model.position + outcome.events, "positions increase, one per event, no gaps"
        model.accept(command, result, outcome)
    assert await container.outbox.head() == model.position, "a rejected or replayed command wrote nothing"
    products = await _products_in_write_model(container)
    assert products == model.products, command
    assert all(product.stock >= 0 for product in products.values())


async def _drain_and_compare(container: Container) -> None:
    await drain(container)
    await assert_read_model_matches_write_model(container)


async def _read_model(container: Container) -> list[dict[str, dict[str, Any]]]:
    return [await indexed(container, index) for index in (PRODUCTS, CUSTOMERS, ORDERS)]


async def _assert_replay_changes_nothing(container: Container) -> None:
    before = await _read_model(container)
    await container.tracking.rewind()
    assert await container.tracking.position() == 0  # or nothing would be replayed
    await drain(container)
    assert await _read_model(container) == before, "replaying every event changed the read model"


class RandomCommands(RuleBasedStateMachine):
    """One program on empty stores. Hypothesis calls rules synchronously, so the machine runs
    its coroutines on an event loop of its own, which also owns the stores' connections."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        super().__init__()
        self.loop = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        self.container = self.loop.run(_fresh_container(settings, tmp_path))
        self.model = Model()
        self.steps = 0
        self.failed = False

    @rule(operation=operations)
    def run(self, operation: Operation) -> None:
        self.failed = True  # stays True if this step raises
        if (command := operation.command(self.model)) is not None:
            self.loop.run(_run(self.container, self.model, command))
        self.steps += 1
        if self.steps == STEPS // 2:
            # The second half's events then land on documents that are already indexed.
            self.loop.run(_drain_and_compare(self.container))
        self.failed = False

    def teardown(self) -> None:
        try:
            if not self.failed:  # else the failed step's error is the one to report
                self.loop.run(_drain_and_compare(self.container))
                self.loop.run(_assert_replay_changes_nothing(self.container))
        finally:
            self.loop.run(self.container.close())
            self.loop.close()


@pytest.mark.timeout(600)  # passing takes seconds; Hypothesis may shrink a failure for five minutes
def test_random_commands_keep_the_model_and_the_read_model_in_step(container: Container, tmp_path: Path) -> None:
    """`container` lends its settings, and its teardown deletes the indices every program shares."""

    class OnFreshStores(RandomCommands):  # the runner calls its factory without arguments
        def __init__(self) -> None:
            super().__init__(container.settings, tmp_path)

    run_state_machine_as_test(OnFreshStores, settings=hypothesis_settings(
        max_examples=5,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,  # keep no example database in the work tree
        phases=[Phase.generate, Phase.shrink],  # not Phase.explain: it reruns slow programs under a tracer
    ))
