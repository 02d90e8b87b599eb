"""The vertical slice over real HTTP: mutation -> SQLite + outbox -> worker -> Elasticsearch -> query."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.operations import (
    CREATE_AND_READ_PRODUCT,
    CREATE_PRODUCT,
    PRODUCT,
    SEARCH_PRODUCTS,
    SYNC_STATUS,
    UPDATE_PRODUCT,
)
from tests.support import Api

CATEGORIES = ["kitchen", "garden", "office"]
NAMES = ["Teapot", "Shovel", "Stapler", "Kettle", "Rake", "Notebook", "Whisk", "Hose", "Pen", "Ladle", "Mug"]


def _product_input(n: int) -> dict[str, Any]:
    return {
        "sku": f"SKU-{n:03d}",
        "name": f"{NAMES[n % len(NAMES)]} {n:03d}" + (" steel" if n % 2 else ""),
        "description": "sturdy and handy" if n % 3 == 0 else "light",
        "category": CATEGORIES[n % 3],
        "tags": ["sale"] if n % 4 == 0 else ["new", "eco"] if n % 4 == 1 else [],
        "price": str(Decimal(100 + (n * 37) % 500) / 4),
        "initialStock": n % 5,
    }


async def _create_catalog(api: Api, count: int) -> tuple[list[dict[str, Any]], str]:
    created = []
    position = "0"
    for n in range(count):
        data = await api(CREATE_PRODUCT, {"input": _product_input(n)})
        result = data["createProduct"]
        assert result["__typename"] == "ProductAccepted", result
        created.append({**_product_input(n), "id": result["id"]})
        position = result["position"]
    return created, position


async def _all_pages(api: Api, page_size: int, after: str | None = None, **variables: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    while True:
        data = await api(SEARCH_PRODUCTS, {**variables, "first": page_size, "after": after})
        connection = data["products"]
        nodes += [edge["node"] for edge in connection["edges"]]
        assert len(connection["edges"]) <= page_size
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]


@pytest.fixture
async def catalog(api: Api) -> tuple[list[dict[str, Any]], str]:
    return await _create_catalog(api, 23)


async def test_a_created_product_is_readable_through_the_accepted_payload(api: Api) -> None:
    data = await api(CREATE_AND_READ_PRODUCT, {"input": _product_input(1)})
    accepted = data["createProduct"]
    product = accepted["product"]
    assert product["id"] == accepted["id"]
    assert product["sku"] == "SKU-001"
    assert product["price"] == {"amount": "34.25", "currency": "USD"}
    assert product["version"] == accepted["version"] == 1
    assert product["inStock"] is True and product["stock"] == 1
    assert product["tags"] == ["new", "eco"]


async def test_consistent_reads_see_the_write_at_once(api: Api, catalog: tuple[list[dict[str, Any]], str]) -> None:
    products, position = catalog
    data = await api(PRODUCT, {"id": products[-1]["id"], "consistentWith": position})
    assert data["product"]["sku"] == products[-1]["sku"]
    status = (await api(SYNC_STATUS))["syncStatus"]
    assert int(status["indexedPosition"]) >= int(position)
    assert status["lag"] == int(status["headPosition"]) - int(status["indexedPosition"])
    assert status["deadLetters"] == 0


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("PRICE_ASC", lambda p: (Decimal(p["price"]), p["id"])),
        ("PRICE_DESC", lambda p: (-Decimal(p["price"]), p["id"])),
        ("NAME", lambda p: (p["name"].lower(), p["id"])),
        ("NEWEST", None),
    ],
)
async def test_cursor_pages_walk_every_product_once_in_sort_order(
    api: Api, catalog: tuple[list[dict[str, Any]], str], sort: str, key: Any
) -> None:
    products, position = catalog
    await api(PRODUCT, {"id": products[0]["id"], "consistentWith": position})
    nodes = await _all_pages(api, 5, sort=sort)
    ids = [node["id"] for node in nodes]
    assert len(ids) == len(set(ids)) == len(products)
    if key is None:  # created one after another: newest first is creation order reversed
        assert ids == [p["id"] for p in reversed(products)]
    else:
        assert ids == [p["id"] for p in sorted(products, key=key)]


async def test_search_with_filters_counts_facets_over_the_whole_result(
    api: Api, catalog: tuple[list[dict[str, Any]], str]
) -> None:
    products, position = catalog
    matching = [p for p in products if "steel" in p["name"] and Decimal(p["price"]) >= 50 and p["initialStock"] > 0]
    data = await api(
        SEARCH_PRODUCTS,
        {"search": "steel", "filter": {"minPrice": "50", "inStock": True}, "first": 2, "consistentWith": position},
    )
    connection = data["products"]
    assert connection["totalCount"] == len(matching) > 2
    assert connection["pageInfo"]["hasNextPage"] is True
    categories = Counter(p["category"] for p in matching)
    assert {b["value"]: b["count"] for b in connection["facets"]["category"]} == categories
    assert {b["value"]: b["count"] for b in connection["facets"]["tags"]} == Counter(
        tag for p in matching for tag in p["tags"]
    )
    walked = await _all_pages(api, 2, search="steel", filter={"minPrice": "50", "inStock": True})
    assert sorted(node["id"] for node in walked) == sorted(p["id"] for p in matching)


async def test_every_filter_field_narrows_the_result(api: Api, catalog: tuple[list[dict[str, Any]], str]) -> None:
    products, position = catalog
    cases = [
        ({"category": ["garden", "office"]}, lambda p: p["category"] in ("garden", "office")),
        ({"tags": ["sale"]}, lambda p: "sale" in p["tags"]),
        ({"minPrice": "40", "maxPrice": "80.25"}, lambda p: Decimal("40") <= Decimal(p["price"]) <= Decimal("80.25")),
        ({"inStock": False}, lambda p: p["initialStock"] == 0),
        ({"status": ["ACTIVE"]}, lambda p: True),
        ({"status": ["DISCONTINUED"]}, lambda p: False),
    ]
    for product_filter, wanted in cases:
        data = await api(SEARCH_PRODUCTS, {"filter": product_filter, "first": 100, "consistentWith": position})
        got = sorted(edge["node"]["id"] for edge in data["products"]["edges"])
        assert got == sorted(p["id"] for p in products if wanted(p)), product_filter


async def test_search_needs_every_word_in_any_field(api: Api, catalog: tuple[list[dict[str, Any]], str]) -> None:
    _products, position = catalog
    data = await api(SEARCH_PRODUCTS, {"search": "sturdy teapot", "consistentWith": position})
    assert [edge["node"]["sku"] for edge in data["products"]["edges"]] == ["SKU-000"]


async def test_relevance_ranks_name_matches_above_description_matches(api: Api) -> None:
    for sku, name, description in [("T-1", "Torch", "brighter than any lantern"), ("L-1", "Lantern", "bright")]:
        data = await api(CREATE_PRODUCT, {"input": {"sku": sku, "name": name, "description": description,
                                                    "category": "outdoor", "price": "9.99"}})
    position = data["createProduct"]["position"]
    result = await api(SEARCH_PRODUCTS, {"search": "lantern", "sort": "RELEVANCE", "consistentWith": position})
    assert [edge["node"]["sku"] for edge in result["products"]["edges"]] == ["L-1", "T-1"]


async def test_paging_stays_correct_when_documents_change_between_pages(
    api: Api, catalog: tuple[list[dict[str, Any]], str]
) -> None:
    """Cursors hold sort values, not document positions: a change between pages neither
    repeats nor skips any product whose sort key did not change."""
    products, position = catalog
    by_price = sorted(products, key=lambda p: (Decimal(p["price"]), p["id"]))
    first = await api(SEARCH_PRODUCTS, {"sort": "PRICE_ASC", "first": 5, "consistentWith": position})
    seen = [edge["node"]["id"] for edge in first["products"]["edges"]]
    assert seen == [p["id"] for p in by_price[:5]]

    boundary, later = by_price[4], by_price[10]
    changes = [
        (UPDATE_PRODUCT, {"input": {"id": boundary["id"], "price": "999.99"}}, "updateProduct"),  # page-1 edge moves
        (UPDATE_PRODUCT, {"input": {"id": later["id"], "name": "Renamed"}}, "updateProduct"),
        (CREATE_PRODUCT, {"input": {**_product_input(99), "price": "0.01"}}, "createProduct"),  # sorts before cursor
    ]
    for document, variables, field in changes:
        position = (await api(document, variables))[field]["position"]
    await api(PRODUCT, {"id": later["id"], "consistentWith": position})

    rest = await _all_pages(api, 5, sort="PRICE_ASC", after=first["products"]["pageInfo"]["endCursor"])
    rest_ids = [node["id"] for node in rest]
    assert rest_ids == [p["id"] for p in by_price[5:]] + [boundary["id"]]
    assert next(node for node in rest if node["id"] == later["id"])["name"] == "Renamed"


FACETS_BY_FRAGMENT = """
query($search: String, $consistentWith: String) {
  products(search: $search, first: 1, consistentWith: $consistentWith) {
    edges { node { id } }
    counts: facets { ...Tags }
  }
  categoriesOnly: products(search: $search, first: 1, consistentWith: $consistentWith) {
    facets { category { value count } } totalCount
  }
}
fragment Tags on ProductFacets { tags { value count } }
"""


async def test_facets_selected_through_aliases_and_fragments_count_the_whole_result(
    api: Api, catalog: tuple[list[dict[str, Any]], str]
) -> None:
    """Each `products` field asks Elasticsearch only for what it selects (through aliases and
    fragments too), and what it selects is counted over the whole result."""
    products, position = catalog
    matching = [p for p in products if "steel" in p["name"]]
    data = await api(FACETS_BY_FRAGMENT, {"search": "steel", "consistentWith": position})
    assert {b["value"]: b["count"] for b in data["products"]["counts"]["tags"]} == Counter(
        tag for p in matching for tag in p["tags"])
    assert "category" not in data["products"]["counts"]
    categories_only = data["categoriesOnly"]
    assert {b["value"]: b["count"] for b in categories_only["facets"]["category"]} == Counter(
        p["category"] for p in matching)
    assert categories_only["totalCount"] == len(matching) > 1
