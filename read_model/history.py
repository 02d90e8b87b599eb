"""The history query store: an aggregate's events in version order, and its document as it was."""

from __future__ import annotations

from enum import Enum
from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import EVENTS
from read_model.search import Page, SearchIndex, bool_query, translated_errors

# Versions are unique within a stream; the position breaks ties all the same, as cursors need.
_BY_VERSION = [{"version": "asc"}, {"position": "asc"}]


class StreamType(Enum):
    """The kinds of event stream; the schema serves this enum as the GraphQL `StreamType`.
    Values are the stream types the events index stores."""

    PRODUCT = "product"
    CUSTOMER = "customer"
    ORDER = "order"


class HistoryStore:
    """Reads the events index. `owner_id`, when given, limits a read to the streams of that
    customer: anything else looks like a stream without events."""

    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._client = client
        self._alias = EVENTS.alias(prefix)
        self._index = SearchIndex(client, self._alias)

    async def events(self, stream: StreamType, stream_id: str, *, first: int, after: str | None,
                     owner_id: str | None = None) -> Page:
        """A page of the stream's events, oldest version first, without their `state`."""
        return await self._index.page(
            query=bool_query([], _stream(stream, stream_id, owner_id)), sort_name="VERSION", sort=_BY_VERSION,
            first=first, after=after, source_excludes=["state"],
        )

    async def state_at(self, stream: StreamType, stream_id: str, position: int,
                       owner_id: str | None = None) -> dict[str, Any] | None:
        """The aggregate's document after its last event at or before `position`; None before its first."""
        filters = [*_stream(stream, stream_id, owner_id), {"range": {"position": {"lte": position}}}]
        async with translated_errors():
            response = await self._client.search(
                index=self._alias, query=bool_query([], filters), sort=[{"position": "desc"}], size=1,
                source_includes=["state"],
            )
        hits = response["hits"]["hits"]
        if not hits:
            return None
        state: dict[str, Any] = hits[0]["_source"]["state"]
        return state


def _stream(stream: StreamType, stream_id: str, owner_id: str | None) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"term": {"streamType": stream.value}}, {"term": {"streamId": stream_id}}]
    if owner_id is not None:
        filters.append({"term": {"ownerId": owner_id}})
    return filters
