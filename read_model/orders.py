"""The order query store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import ORDERS
from read_model.search import Page, SearchIndex, Sort, bool_query


class OrderSort(Enum):
    """How an order search is sorted; the schema serves this enum as the GraphQL `OrderSort`."""

    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
    TOTAL_DESC = "TOTAL_DESC"
    TOTAL_ASC = "TOTAL_ASC"


_SORTS: dict[OrderSort, Sort] = {
    OrderSort.NEWEST: [{"placedAt": "desc"}, {"id": "asc"}],
    OrderSort.OLDEST: [{"placedAt": "asc"}, {"id": "asc"}],
    OrderSort.TOTAL_DESC: [{"totalMinor": "desc"}, {"id": "asc"}],
    OrderSort.TOTAL_ASC: [{"totalMinor": "asc"}, {"id": "asc"}],
}


@dataclass(frozen=True)
class OrderQuery:
    customer_id: str | None = None
    statuses: list[str] | None = None
    product_id: str | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None
    sort: OrderSort = OrderSort.NEWEST
    first: int = 20
    after: str | None = None
    # Set for a customer: only their orders, whatever else the filter says.
    owner_id: str | None = None


class OrderStore:
    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._index = SearchIndex(client, ORDERS.alias(prefix))

    async def get(self, order_id: str) -> dict[str, Any] | None:
        return await self._index.get(order_id)

    async def get_many(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        return await self._index.get_many(order_ids)

    async def search(self, query: OrderQuery) -> Page:
        return await self._index.page(
            query=bool_query([], _filters(query)), sort_name=query.sort.value, sort=_SORTS[query.sort],
            first=query.first, after=query.after,
        )


def _filters(query: OrderQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.owner_id is not None:
        filters.append({"term": {"customerId": query.owner_id}})
    if query.customer_id is not None:
        filters.append({"term": {"customerId": query.customer_id}})
    if query.statuses is not None:
        filters.append({"terms": {"status": query.statuses}})
    if query.product_id is not None:
        filters.append({"term": {"lines.productId": query.product_id}})
    placed: dict[str, str] = {}
    if query.placed_after is not None:
        placed["gt"] = query.placed_after.isoformat()
    if query.placed_before is not None:
        placed["lt"] = query.placed_before.isoformat()
    if placed:
        filters.append({"range": {"placedAt": placed}})
    return filters
