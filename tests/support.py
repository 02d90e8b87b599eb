"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from read_model.indices import PRODUCTS, ensure_indices
from server.bootstrap import Container
from sync.projections import product_document
from sync.worker import CONSUMER
from write_model.products import snapshot
from write_model.tables import ProductRow


async def drain(container: Container) -> int:
    """Run the worker batch by batch until it has indexed everything committed so far."""
    await ensure_indices(container.elasticsearch, container.settings.index_prefix)
    checkpoint = await container.outbox.checkpoint(CONSUMER)
    head = await container.outbox.head()
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
    return checkpoint


async def indexed_products(container: Container) -> dict[str, dict[str, Any]]:
    """Every product document with its Elasticsearch `_version`, by id."""
    response = await container.elasticsearch.search(
        index=PRODUCTS.alias(container.settings.index_prefix), size=10_000, version=True,
        query={"match_all": {}},
    )
    return {hit["_id"]: {"_version": hit["_version"], **hit["_source"]} for hit in response["hits"]["hits"]}


async def stored_products(container: Container) -> dict[str, ProductRow]:
    async with AsyncSession(container.database.reader) as session:
        rows = await session.exec(select(ProductRow))
        return {row.id: row for row in rows}


async def assert_read_model_matches_write_model(container: Container) -> None:
    """Field for field, every product document is what the write model says, at its version."""
    stored = await stored_products(container)
    indexed = await indexed_products(container)
    assert indexed.keys() == stored.keys()
    for product_id, row in stored.items():
        expected = product_document(snapshot(row), container.settings.currency)
        document = dict(indexed[product_id])
        assert document.pop("_version") == row.version
        assert document == expected
