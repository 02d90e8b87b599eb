"""The idempotency fingerprint: what makes a repeated key "the same input" (write_model.bus)."""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal

import pytest

from write_model.bus import _fingerprint
from write_model.commands import CreateProduct, DiscontinueProduct, OrderLineRequest, PlaceOrder, ShipOrder

CREATE = CreateProduct(sku="MUG-1", name="Mug", category="kitchen", price=Decimal("12.50"), description="Blue",
                       tags=("ceramic", "blue"), initial_stock=3, key="k-1")


def test_the_fingerprint_hashes_the_fields_in_a_canonical_order_and_form() -> None:
    """Fingerprints are stored with each key (idempotency_keys.fingerprint), so they must not depend
    on the process or on how the dataclass declares its fields: a change here would make every
    retry after an upgrade look like a different input. Sorted field names, amounts normalised."""
    canonical = ('["CreateProduct", {"category": "kitchen", "description": "Blue", "initial_stock": 3, "name": "Mug",'
                 ' "price": "12.5", "sku": "MUG-1", "tags": ["ceramic", "blue"]}]')
    assert _fingerprint(CREATE) == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("same", ["12.5", "12.500", "1.25E1", "0012.50"])
def test_the_same_amount_written_differently_is_the_same_input(same: str) -> None:
    assert _fingerprint(dataclasses.replace(CREATE, price=Decimal(same))) == _fingerprint(CREATE)


def test_the_key_itself_is_not_part_of_the_input() -> None:
    assert _fingerprint(dataclasses.replace(CREATE, key="k-2")) == _fingerprint(CREATE)
    assert _fingerprint(dataclasses.replace(CREATE, key=None)) == _fingerprint(CREATE)


@pytest.mark.parametrize("other", [
    dataclasses.replace(CREATE, sku="MUG-2"), dataclasses.replace(CREATE, name="Cup"),
    dataclasses.replace(CREATE, category="garden"), dataclasses.replace(CREATE, price=Decimal("12.51")),
    dataclasses.replace(CREATE, description=""), dataclasses.replace(CREATE, tags=("blue", "ceramic")),
    dataclasses.replace(CREATE, tags=("ceramic",)), dataclasses.replace(CREATE, initial_stock=4),
], ids=["sku", "name", "category", "price", "description", "tag order", "tags", "initial stock"])
def test_any_other_field_makes_another_input(other: CreateProduct) -> None:
    assert _fingerprint(other) != _fingerprint(CREATE)


def test_order_lines_count_field_by_field_and_so_does_the_actor() -> None:
    order = PlaceOrder("c-1", (OrderLineRequest("p-1", 1), OrderLineRequest("p-2", 2)), key="k-1")
    more = (OrderLineRequest("p-1", 1), OrderLineRequest("p-2", 3))
    assert _fingerprint(dataclasses.replace(order, lines=more)) != _fingerprint(order)
    assert _fingerprint(dataclasses.replace(order, actor="c-1")) != _fingerprint(order)


def test_another_command_with_the_same_fields_is_another_input() -> None:
    assert _fingerprint(DiscontinueProduct("x-1", 2)) != _fingerprint(ShipOrder("x-1", 2))
