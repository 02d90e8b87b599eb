"""The product query store: lookups and searches over the products index."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import PRODUCTS
from read_model.search import Hit, SearchIndex, Sort, bool_query, text_query

FACET_SIZE = 50
# The fields products can be counted by, each an aggregation of the search.
FACETS = frozenset({"category", "tags"})


class ProductSort(Enum):
    """How a product search is sorted; the schema serves this enum as the GraphQL `ProductSort`."""

    RELEVANCE = "RELEVANCE"
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NAME = "NAME"


_SORTS: dict[ProductSort, Sort] = {
    ProductSort.RELEVANCE: [{"_score": "desc"}, {"id": "asc"}],
    ProductSort.NEWEST: [{"createdAt": "desc"}, {"id": "asc"}],
    ProductSort.PRICE_ASC: [{"priceMinor": "asc"}, {"id": "asc"}],
    ProductSort.PRICE_DESC: [{"priceMinor": "desc"}, {"id": "asc"}],
    ProductSort.NAME: [{"name.sort": "asc"}, {"id": "asc"}],
}


@dataclass(frozen=True)
class ProductQuery:
    """Prices are in minor units, as the index holds them: the caller rounds decimal bounds."""

    search: str | None = None
    categories: list[str] | None = None
    tags: list[str] | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    in_stock: bool | None = None
    statuses: list[str] | None = None
    sort: ProductSort = ProductSort.RELEVANCE
    first: int = 20
    after: str | None = None
    # Only what the caller reads: each facet is an aggregation over every match, and an exact
    # total keeps Elasticsearch from stopping once it has the page.
    facets: frozenset[str] = FACETS
    count_total: bool = True


@dataclass(frozen=True)
class ProductPage:
    hits: list[Hit]
    total: int | None  # None unless `count_total`
    has_next_page: bool
    facets: dict[str, list[tuple[str, int]]]  # the facets asked for


class ProductStore:
    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._index = SearchIndex(client, PRODUCTS.alias(prefix))

    async def get(self, product_id: str) -> dict[str, Any] | None:
        return await self._index.get(product_id)

    async def get_many(self, product_ids: list[str]) -> dict[str, dict[str, Any]]:
        return await self._index.get_many(product_ids)

    async def search(self, query: ProductQuery) -> ProductPage:
        page = await self._index.page(
            query=_query(query), sort_name=query.sort.value, sort=_SORTS[query.sort], first=query.first,
            after=query.after, aggregations=aggregations(query.facets), count_total=query.count_total,
        )
        facets = {
            name: [(bucket["key"], bucket["doc_count"]) for bucket in page.aggregations[name]["buckets"]]
            for name in sorted(query.facets)
        }
        return ProductPage(page.hits, page.total, page.has_next_page, facets)


def aggregations(facets: frozenset[str]) -> dict[str, Any]:
    """The terms aggregations that count the matches by each of `facets`."""
    return {name: {"terms": {"field": name, "size": FACET_SIZE}} for name in sorted(facets)}


def _query(query: ProductQuery) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if query.categories is not None:
        filters.append({"terms": {"category": query.categories}})
    if query.tags is not None:
        filters.append({"terms": {"tags": query.tags}})
    if query.statuses is not None:
        filters.append({"terms": {"status": query.statuses}})
    if query.in_stock is not None:
        filters.append({"term": {"inStock": query.in_stock}})
    price_range: dict[str, int] = {}
    if query.min_price_minor is not None:
        price_range["gte"] = query.min_price_minor
    if query.max_price_minor is not None:
        price_range["lte"] = query.max_price_minor
    if price_range:
        filters.append({"range": {"priceMinor": price_range}})
    return bool_query(text_query(query.search, ["name^3", "tags.text^2", "description"]), filters)
