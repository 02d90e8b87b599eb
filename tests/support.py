"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from read_model.indices import CUSTOMERS, ORDERS, PRODUCTS, IndexDefinition, ensure_indices
from server.bootstrap import Container
from server.settings import Settings
from sync.projections import project
from write_model.snapshots import KINDS, open_snapshot
from write_model.tables import ProductRow


T = TypeVar("T")

STOREFRONT = str(Path(sys.executable).with_name("storefront"))


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a `storefront` process needs to work on the same stores as `settings`."""
    return {
        **os.environ,
        "STOREFRONT_DATABASE_URL": settings.database_url,
        "STOREFRONT_ELASTICSEARCH_URL": settings.elasticsearch_url,
        "STOREFRONT_INDEX_PREFIX": settings.index_prefix,
        "STOREFRONT_SYNC_BATCH_SIZE": str(settings.sync_batch_size),
        **extra,
    }


async def run_storefront(settings: Settings, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `storefront` without blocking the event loop (a live server may share it); killed if it
    outlives the timeout. Its output is a pipe, so it is not a terminal."""
    process = await asyncio.create_subprocess_exec(
        STOREFRONT, *args, env=environment(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return subprocess.CompletedProcess([STOREFRONT, *args], process.returncode, stdout.decode(), stderr.decode())


async def drain(container: Container) -> int:
    """Run the worker batch by batch until it has indexed everything committed so far."""
    await ensure_indices(container.elasticsearch, container.settings.index_prefix)
    checkpoint = await container.tracking.position()
    head = await container.outbox.head()
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
    return checkpoint


async def indexed(container: Container, index: IndexDefinition) -> dict[str, dict[str, Any]]:
    """Every document of an index with its Elasticsearch `_version`, by id."""
    response = await container.elasticsearch.search(
        index=index.alias(container.settings.index_prefix), size=10_000, version=True, query={"match_all": {}},
    )
    return {hit["_id"]: {"_version": hit["_version"], **hit["_source"]} for hit in response["hits"]["hits"]}


async def indexed_products(container: Container) -> dict[str, dict[str, Any]]:
    return await indexed(container, PRODUCTS)


async def _rows(container: Container, table: type[T]) -> list[T]:
    async with AsyncSession(container.database.reader) as session:
        return list(await session.exec(select(table)))


async def stored_products(container: Container) -> dict[str, ProductRow]:
    return {row.id: row for row in await _rows(container, ProductRow)}


async def expected_documents(container: Container) -> dict[str, dict[str, dict[str, Any]]]:
    """What every index should hold according to the write model's current state, by index name and id."""
    currency = container.settings.currency
    expected: dict[str, dict[str, dict[str, Any]]] = {PRODUCTS.name: {}, CUSTOMERS.name: {}, ORDERS.name: {}}
    async with open_snapshot(container.database) as snapshot:
        for kind in KINDS:
            async for states in snapshot.states(kind, 1000):
                for document in [document for state in states for document in project(state, currency)]:
                    expected[document.index.name][document.id] = document.document
    return expected


async def assert_read_model_matches_write_model(container: Container) -> None:
    """Field for field, every document is what the write model says; products and orders
    also carry their aggregate's version as the Elasticsearch version."""
    expected = await expected_documents(container)
    for index in (PRODUCTS, CUSTOMERS, ORDERS):
        documents = await indexed(container, index)
        assert documents.keys() == expected[index.name].keys(), index.name
        for document_id, document in documents.items():
            document = dict(document)
            elasticsearch_version = document.pop("_version")
            assert document == expected[index.name][document_id], (index.name, document_id)
            if index is not CUSTOMERS:
                assert elasticsearch_version == document["version"]
