"""A poison event is parked after its retries, the stream continues, and `retry` succeeds once
the cause is fixed. Nothing is silently dropped."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from elasticsearch.helpers import async_bulk

from read_model.indices import PRODUCT_MAPPING, PRODUCTS, IndexDefinition, create_index, indices_behind, point_alias
from schema.build import build_schema
from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import SEARCH_PRODUCTS, SYNC_STATUS
from tests.support import assert_read_model_matches_write_model, drain, indexed, run_storefront
from write_model.commands import AdjustStock, Command, CreateProduct, UpdateProduct
from write_model.events import PRODUCT_CREATED, STOCK_ADJUSTED
from write_model.results import Accepted

MAX_ATTEMPTS = 2
TIMEOUT_S = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sync_max_attempts": MAX_ATTEMPTS})


def _products_with_name_as(field_type: str) -> IndexDefinition:
    """The products mapping with a wrong type for `name`: Elasticsearch refuses every name
    that is not of that type, for good (a 400, never worth retrying as is)."""
    properties = {**PRODUCT_MAPPING["properties"], "name": {"type": field_type}}
    return IndexDefinition(PRODUCTS.name, {**PRODUCT_MAPPING, "properties": properties})


async def _poison(container: Container) -> None:
    """Before the worker first runs, so it finds the alias and keeps it."""
    alias = PRODUCTS.alias(container.settings.index_prefix)
    await create_index(container.elasticsearch, f"{alias}-poisoned", _products_with_name_as("long"), alias=alias)


async def _swap_products_index(container: Container, suffix: str, definition: IndexDefinition,
                               documents: dict[str, dict[str, Any]]) -> None:
    """Create a products index holding `documents` (as `indexed` returns them, with their
    versions), then move the alias onto it."""
    client, alias = container.elasticsearch, PRODUCTS.alias(container.settings.index_prefix)
    index = f"{alias}-{suffix}"
    await create_index(client, index, definition)
    await async_bulk(client, [
        {"_index": index, "_id": document_id, "version": document["_version"], "version_type": "external",
         "_source": {name: value for name, value in document.items() if name != "_version"}}
        for document_id, document in documents.items()
    ], refresh=True)
    await point_alias(client, alias, index, await indices_behind(client, alias))


async def _dispatch(container: Container, command: Command) -> Accepted:
    result = await container.bus.dispatch(command)
    assert isinstance(result, Accepted), result
    return result


async def _create(container: Container, name: str) -> Accepted:
    return await _dispatch(container, CreateProduct(sku=f"SKU-{name}", name=name, category="kitchen",
                                                    price=Decimal("9.50"), initial_stock=2))


async def _drain(container: Container) -> int:
    return await asyncio.wait_for(drain(container), TIMEOUT_S)


async def _graphql(container: Container, query: str) -> dict[str, Any]:
    result = await build_schema().execute(query, context_value=container.context())
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data



async def test_a_poison_event_is_parked_the_stream_continues_and_retry_succeeds_once_fixed(
    container: Container, settings: Settings
) -> None:
    await _poison(container)
    teapot = await _create(container, "Teapot")
    numbered = await _create(container, "12345")
    kettle = await _create(container, "Kettle")
    teapot_restocked = await _dispatch(container, AdjustStock(product_id=teapot.id, delta=5))
    renumbered = await _dispatch(container, UpdateProduct(id=numbered.id, name="67890"))

    head = await _drain(container)

    assert head == await container.outbox.head() == await container.tracking.position()
    letters = await container.dead_letters.list()
    assert [(letter.position, letter.document_id, letter.event_type) for letter in letters] == [
        (teapot.position, teapot.id, PRODUCT_CREATED),
        (kettle.position, kettle.id, PRODUCT_CREATED),
        (teapot_restocked.position, teapot.id, STOCK_ADJUSTED),
    ]
    for letter in letters:
        assert (letter.index_name, letter.stream_id, letter.attempts) == ("products", letter.document_id, MAX_ATTEMPTS)
        assert "failed to parse field [name] of type [long]" in letter.error
    # The events around the poison ones went through.
    assert (await indexed(container, PRODUCTS)).keys() == {numbered.id}
    search = await _graphql(container, SEARCH_PRODUCTS)
    assert [edge["node"]["name"] for edge in search["products"]["edges"]] == ["67890"]
    assert renumbered.version == search["products"]["edges"][0]["node"]["version"]
    assert (await _graphql(container, SYNC_STATUS))["syncStatus"] == {
        "headPosition": str(head), "indexedPosition": str(head), "lag": 0, "deadLetters": 3}

    listed = await run_storefront(settings, "dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{letter.id}\tposition {letter.position}\t{letter.event_type}\tproducts/{letter.document_id}"
        f"\tattempts {MAX_ATTEMPTS}\t{letter.error}"
        for letter in letters
    ] + ["3 dead letters"]

    # The operator's fix: a correct index with what the bad one accepted; the refused ones are still missing.
    await _swap_products_index(container, "fixed", PRODUCTS, await indexed(container, PRODUCTS))
    retried = await run_storefront(settings, "dead-letters", "retry", "--all")

    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert retried.stdout.splitlines() == [f"{letter.id}: indexed" for letter in letters]
    assert await container.dead_letters.count() == 0
    assert (await _graphql(container, SYNC_STATUS))["syncStatus"]["deadLetters"] == 0
    products = await indexed(container, PRODUCTS)
    assert products[teapot.id]["stock"] == 7 and products[teapot.id]["version"] == teapot_restocked.version
    await assert_read_model_matches_write_model(container)


async def test_a_retry_that_is_still_refused_keeps_the_letter_with_the_new_error(
    container: Container, settings: Settings
) -> None:
    await _poison(container)
    await _create(container, "Teapot")
    await _create(container, "Kettle")
    await _drain(container)
    first, second = await container.dead_letters.list()
    # Another mistake in place of the first: the retry must report the error it meets now.
    await _swap_products_index(container, "still-wrong", _products_with_name_as("boolean"), {})

    retried = await run_storefront(settings, "dead-letters", "retry", str(first.id))

    assert retried.returncode == 1, retried.stderr
    assert "Traceback" not in retried.stderr
    refusal = "failed to parse field [name] of type [boolean]"
    assert len(retried.stdout.splitlines()) == 1
    assert retried.stdout.startswith(f"{first.id}: still refused: ") and refusal in retried.stdout
    kept_first, kept_second = await container.dead_letters.list()
    assert (kept_first.id, kept_first.attempts) == (first.id, MAX_ATTEMPTS + 1)
    assert refusal in kept_first.error
    assert kept_second == second
    assert (await indexed(container, PRODUCTS)) == {}


@pytest.mark.parametrize(("args", "message"), [
    ((), "name one dead letter ID or pass --all"),
    (("1", "--all"), "name one dead letter ID or pass --all"),
    (("999",), "no dead letter 999; `storefront dead-letters list` shows them"),
])  # `--all` with nothing parked succeeds: tests/e2e/test_cli.py::test_retry_all_with_nothing_parked_succeeds
async def test_retry_without_a_letter_to_retry_is_a_one_line_error(
    container: Container, settings: Settings, args: tuple[str, ...], message: str
) -> None:
    result = await run_storefront(settings, "dead-letters", "retry", *args)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {message}"
