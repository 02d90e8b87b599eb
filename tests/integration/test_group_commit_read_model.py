"""One group commit with a rejected command between two accepted ones: the rejected one rolls back
alone, positions stay gap-free, and the worker indexes exactly the accepted two in their order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from server.bootstrap import Container
from tests.support import assert_read_model_matches_write_model, drain, indexed_products, one_group
from write_model.commands import AdjustStock, CreateProduct
from write_model.errors import ValidationFailed
from write_model.results import Accepted


@pytest.mark.sqlite_only  # group commit is SQLite's writer; PostgreSQL runs each command in its own transaction
async def test_a_rejected_command_between_two_accepted_ones_reaches_the_read_model_as_two(
    container: Container,
) -> None:
    bus, database = container.bus, container.database
    product = await bus.dispatch(CreateProduct(sku="MUG-1", name="Mug", category="c", price=Decimal("2.50"),
                                               initial_stock=5))
    assert isinstance(product, Accepted)

    first, refused, last = await one_group(
        database,
        bus.dispatch(AdjustStock(product.id, delta=-3)),
        bus.dispatch(AdjustStock(product.id, delta=-3)),  # sees the first: 2 left, refused
        bus.dispatch(AdjustStock(product.id, delta=-2)),
    )

    assert first == Accepted(product.id, 2, product.position + 1)
    assert isinstance(refused, ValidationFailed) and [p.field for p in refused.fields] == ["delta"]
    assert last == Accepted(product.id, 3, product.position + 2)
    events = await container.outbox.read_after(product.position, 100)
    assert [(e.position, e.stream_version, e.payload["stock"]) for e in events] == [
        (product.position + 1, 2, 2),
        (product.position + 2, 3, 0),
    ]
    assert await drain(container) == product.position + 2
    document = (await indexed_products(container))[product.id]
    assert (document["stock"], document["version"], document["_version"]) == (0, 3, 3)
    assert await container.indexed_position.current() == product.position + 2
    await assert_read_model_matches_write_model(container)
