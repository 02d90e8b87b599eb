"""The product query store: lookups and searches over the products index."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, NotFoundError, TransportError

from read_model.errors import InvalidCursor, ReadModelUnavailable
from read_model.indices import PRODUCTS

FACET_SIZE = 50
MINOR_UNITS = 100


class ProductOrder(Enum):
    RELEVANCE = "RELEVANCE"
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NAME = "NAME"


# Each order ends with the id, so every sort key is unique and search_after never skips or repeats.
_SORTS: dict[ProductOrder, list[dict[str, str]]] = {
    ProductOrder.RELEVANCE: [{"_score": "desc"}, {"id": "asc"}],
    ProductOrder.NEWEST: [{"createdAt": "desc"}, {"id": "asc"}],
    ProductOrder.PRICE_ASC: [{"priceMinor": "asc"}, {"id": "asc"}],
    ProductOrder.PRICE_DESC: [{"priceMinor": "desc"}, {"id": "asc"}],
    ProductOrder.NAME: [{"name.sort": "asc"}, {"id": "asc"}],
}


@dataclass(frozen=True)
class ProductQuery:
    search: str | None = None
    categories: list[str] | None = None
    tags: list[str] | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    statuses: list[str] | None = None
    order: ProductOrder = ProductOrder.RELEVANCE
    first: int = 20
    after: str | None = None


@dataclass(frozen=True)
class Hit:
    cursor: str
    document: dict[str, Any]


@dataclass(frozen=True)
class ProductPage:
    hits: list[Hit]
    total: int
    has_next_page: bool
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def to_minor_units(amount: Decimal) -> int:
    return int(amount * MINOR_UNITS)


class ProductStore:
    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._client = client
        self._index = PRODUCTS.alias(prefix)

    async def get(self, product_id: str) -> dict[str, Any] | None:
        async with _translated_errors():
            try:
                response = await self._client.get(index=self._index, id=product_id)
            except NotFoundError:
                return None
        source: dict[str, Any] = response["_source"]
        return source

    async def search(self, query: ProductQuery) -> ProductPage:
        sort = _SORTS[query.order]
        body: dict[str, Any] = {
            "query": _query(query),
            "sort": sort,
            "size": query.first + 1,
            "track_total_hits": True,
            "aggs": {
                "category": {"terms": {"field": "category", "size": FACET_SIZE}},
                "tags": {"terms": {"field": "tags", "size": FACET_SIZE}},
            },
        }
        if query.after is not None:
            body["search_after"] = decode_cursor(query.after, query.order)
        async with _translated_errors():
            try:
                response = await self._client.search(index=self._index, **body)
            except BadRequestError as error:
                if query.after is None:
                    raise
                raise InvalidCursor("`after` does not fit this query's sort; start again without it.") from error
        raw_hits = response["hits"]["hits"]
        hits = [Hit(encode_cursor(query.order, hit["sort"]), hit["_source"]) for hit in raw_hits[: query.first]]
        facets = {
            name: [(bucket["key"], bucket["doc_count"]) for bucket in response["aggregations"][name]["buckets"]]
            for name in ("category", "tags")
        }
        return ProductPage(hits, response["hits"]["total"]["value"], len(raw_hits) > query.first, facets)


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
    if query.min_price is not None:
        price_range["gte"] = math.ceil(query.min_price * MINOR_UNITS)
    if query.max_price is not None:
        price_range["lte"] = math.floor(query.max_price * MINOR_UNITS)
    if price_range:
        filters.append({"range": {"priceMinor": price_range}})
    must: list[dict[str, Any]] = []
    if query.search and query.search.strip():
        must.append(
            {
                "multi_match": {
                    "query": query.search,
                    "fields": ["name^3", "tags.text^2", "description"],
                    # Every word must match, but each may match in a different field.
                    "type": "cross_fields",
                    "operator": "and",
                }
            }
        )
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def encode_cursor(order: ProductOrder, sort_values: list[Any]) -> str:
    raw = json.dumps({"o": order.value, "v": sort_values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: ProductOrder) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = decoded["v"]
        cursor_order = decoded["o"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidCursor("`after` is not a cursor this API handed out.") from error
    if cursor_order != order.value or not isinstance(values, list) or len(values) != len(_SORTS[order]):
        raise InvalidCursor("`after` belongs to a different sort order; start again without it.")
    if not all(isinstance(value, str | int | float) for value in values):
        raise InvalidCursor("`after` is not a cursor this API handed out.")
    return values


@asynccontextmanager
async def _translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except NotFoundError as error:
        # A missing alias means no worker has created the indices yet.
        raise ReadModelUnavailable("The read model has not been created yet; start the sync worker.") from error
    except (TransportError, ApiError) as error:
        if isinstance(error, ApiError) and error.meta.status < 500 and error.meta.status != 429:
            raise
        raise ReadModelUnavailable("The read model (Elasticsearch) is unavailable; try again shortly.") from error
