"""Commands over real HTTP against a real SQLite file: concurrency, idempotency, bad input."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.settings import Settings
from tests.e2e.operations import (
    ADJUST_STOCK,
    CREATE_PRODUCT,
    DISCONTINUE_PRODUCT,
    PRODUCT,
    SEARCH_PRODUCTS,
    SYNC_STATUS,
    UPDATE_PRODUCT,
)
from tests.support import Api


def _input(sku: str, **overrides: Any) -> dict[str, Any]:
    return {"sku": sku, "name": "Lamp", "category": "lighting", "price": "19.90", **overrides}


async def _count(settings: Settings, sql: str) -> int:
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_concurrent_stock_adjustments_all_commit_and_add_up(api: Api, settings: Settings) -> None:
    created = (await api(CREATE_PRODUCT, {"input": _input("LAMP-1", initialStock=10)}))["createProduct"]
    rng = random.Random(50)
    deltas = [rng.choice([-3, -2, -1, 1, 2, 3, 5]) for _ in range(50)]

    async def adjust(delta: int) -> dict[str, Any]:
        body = await api.raw(ADJUST_STOCK, {"input": {"productId": created["id"], "delta": delta}})
        assert "errors" not in body, body  # a "database is locked" would surface here
        result: dict[str, Any] = body["data"]["adjustStock"]
        return result

    results = await asyncio.gather(*(adjust(delta) for delta in deltas))

    accepted = [delta for delta, result in zip(deltas, results, strict=True)
                if result["__typename"] == "ProductAccepted"]
    refused = [result for result in results if result["__typename"] != "ProductAccepted"]
    assert all(result["__typename"] == "ValidationError" for result in refused)  # only "below zero" may refuse
    expected_stock = 10 + sum(accepted)
    assert sorted(result["version"] for result in results if result["__typename"] == "ProductAccepted") == list(
        range(2, 2 + len(accepted))
    )
    assert await _count(settings, f"SELECT stock FROM products WHERE id = '{created['id']}'") == expected_stock
    events = 1 + len(accepted)  # positions are gap-free: exactly 1..events, whatever the interleaving
    assert await _count(settings, "SELECT count(*) FROM outbox") == events
    assert await _count(settings, "SELECT max(position) - min(position) + 1 FROM outbox") == events
    last_position = max(int(r["position"]) for r in results if r["__typename"] == "ProductAccepted")
    product = (await api(PRODUCT, {"id": created["id"], "consistentWith": str(last_position)}))["product"]
    assert product["stock"] == expected_stock
    assert product["version"] == 1 + len(accepted)


async def test_one_idempotency_key_creates_one_product(api: Api, settings: Settings) -> None:
    variables = {"input": _input("IDEM-1", idempotencyKey="create-idem-1")}
    first = (await api(CREATE_PRODUCT, variables))["createProduct"]
    concurrent = await asyncio.gather(*(api(CREATE_PRODUCT, variables) for _ in range(3)))
    last = (await api(CREATE_PRODUCT, variables))["createProduct"]

    results = [first, *(data["createProduct"] for data in concurrent), last]
    assert {(r["__typename"], r["id"], r["position"], r["version"]) for r in results} == {
        ("ProductAccepted", first["id"], first["position"], 1)
    }
    assert await _count(settings, "SELECT count(*) FROM products WHERE sku = 'IDEM-1'") == 1
    assert await _count(settings, "SELECT count(*) FROM outbox") == 1
    search = await api(SEARCH_PRODUCTS, {"search": "lamp", "consistentWith": first["position"]})
    assert search["products"]["totalCount"] == 1


async def test_one_idempotency_key_with_another_input_is_refused(api: Api, settings: Settings) -> None:
    await api(CREATE_PRODUCT, {"input": _input("IDEM-2", idempotencyKey="k-2")})
    other = (await api(CREATE_PRODUCT, {"input": _input("IDEM-3", idempotencyKey="k-2")}))["createProduct"]
    assert other["__typename"] == "ValidationError"
    assert [f["field"] for f in other["fields"]] == ["idempotencyKey"]
    assert await _count(settings, "SELECT count(*) FROM products") == 1


async def test_a_duplicate_sku_is_a_typed_failure(api: Api) -> None:
    await api(CREATE_PRODUCT, {"input": _input("DUP-1")})
    duplicate = (await api(CREATE_PRODUCT, {"input": _input("DUP-1", name="Other")}))["createProduct"]
    assert duplicate == {"__typename": "DuplicateError", "message": "A product with SKU 'DUP-1' already exists.",
                         "field": "sku"}


async def test_field_level_validation_names_each_bad_field(api: Api, settings: Settings) -> None:
    bad = _input("BAD-1", name="  ", category="", price="-1", initialStock=-5, description="x" * 20_000)
    result = (await api(CREATE_PRODUCT, {"input": bad}))["createProduct"]
    assert result["__typename"] == "ValidationError"
    assert {f["field"] for f in result["fields"]} == {"name", "category", "price", "initialStock", "description"}
    assert await _count(settings, "SELECT count(*) FROM outbox") == 0


@pytest.mark.parametrize(
    ("document", "variables", "message_part"),
    [
        ("{ products { totalCount ", {}, "Syntax Error"),
        ("{ products { totalCount nope } }", {}, "Cannot query field 'nope'"),
        ("{ products(first: \"many\") { totalCount } }", {}, "Int cannot represent"),
        ("{ products(first: 100000) { totalCount } }", {}, "`first` must be between 0 and 100"),
        ("{ products(after: \"bogus\") { totalCount } }", {}, "`after` is not a cursor"),
        ("{ product(id: \"x\", consistentWith: \"soon\") { id } }", {}, "`consistentWith` must be a `position`"),
        (CREATE_PRODUCT, {"input": {"sku": "X", "name": "n", "category": "c", "price": "cheap"}}, "Decimal"),
        (CREATE_PRODUCT, {"input": {"sku": "X", "name": "n", "category": "c"}}, "price"),
    ],
)
async def test_malformed_requests_get_a_clear_error_and_write_nothing(
    api: Api, settings: Settings, document: str, variables: dict[str, Any], message_part: str
) -> None:
    body = await api.raw(document, variables)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message_part in error["message"]
    assert await _count(settings, "SELECT count(*) FROM outbox") == 0


async def test_a_negative_price_is_refused_and_nothing_is_written(api: Api, settings: Settings) -> None:
    result = (await api(CREATE_PRODUCT, {"input": _input("NEG-1", price="-0.01")}))["createProduct"]
    assert result["__typename"] == "ValidationError"
    assert result["fields"] == [{"field": "price", "message": "must not be negative"}]
    assert (await api(SYNC_STATUS))["syncStatus"]["headPosition"] == "0"
    assert await _count(settings, "SELECT count(*) FROM products") == 0


async def test_the_product_lifecycle_and_its_typed_failures(api: Api) -> None:
    product_id = (await api(CREATE_PRODUCT, {"input": _input("LIFE-1")}))["createProduct"]["id"]

    async def update(**fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = (await api(UPDATE_PRODUCT, {"input": {"id": product_id, **fields}}))["updateProduct"]
        return result

    renamed = await update(expectedVersion=1, name="Desk lamp", tags=["led", "led", " desk "])
    assert (renamed["__typename"], renamed["version"]) == ("ProductAccepted", 2)
    stale = await update(expectedVersion=1, name="Too late")
    assert stale == {"__typename": "ConflictError", "message": "The product was changed by someone else.",
                     "expectedVersion": 1, "actualVersion": 2}
    missing = (await api(UPDATE_PRODUCT, {"input": {"id": "nope", "name": "x"}}))["updateProduct"]
    assert (missing["__typename"], missing["id"]) == ("NotFoundError", "nope")

    discontinued = (await api(DISCONTINUE_PRODUCT, {"input": {"id": product_id, "expectedVersion": 2}}))
    position = discontinued["discontinueProduct"]["position"]
    again = (await api(DISCONTINUE_PRODUCT, {"input": {"id": product_id}}))["discontinueProduct"]
    assert (again["__typename"], again["currentStatus"]) == ("InvalidStateError", "DISCONTINUED")
    assert (await update(name="After"))["__typename"] == "InvalidStateError"

    product = (await api(PRODUCT, {"id": product_id, "consistentWith": position}))["product"]
    assert (product["name"], product["tags"], product["status"], product["version"]) == (
        "Desk lamp", ["led", "desk"], "DISCONTINUED", 3)
    found = await api(SEARCH_PRODUCTS, {"filter": {"status": ["DISCONTINUED"]}})
    assert [edge["node"]["id"] for edge in found["products"]["edges"]] == [product_id]
