"""The customer query store."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import CUSTOMERS
from read_model.search import Page, SearchIndex, bool_query, text_query

_BY_RELEVANCE = [{"_score": "desc"}, {"id": "asc"}]
_BY_NAME = [{"name.sort": "asc"}, {"id": "asc"}]


class CustomerStore:
    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._index = SearchIndex(client, CUSTOMERS.alias(prefix))

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        return await self._index.get(customer_id)

    async def search(self, search: str | None, first: int, after: str | None, only_id: str | None = None) -> Page:
        """Best matches first when searching by name or email, else by name; `only_id`
        restricts the search to one customer (a customer searching sees only themselves)."""
        must = text_query(search, ["name^2", "email.text"])
        sort_name, sort = ("RELEVANCE", _BY_RELEVANCE) if must else ("NAME", _BY_NAME)
        filters = [] if only_id is None else [{"term": {"id": only_id}}]
        return await self._index.page(query=bool_query(must, filters), sort_name=sort_name, sort=sort, first=first,
                                      after=after)
