"""What every query store shares: lookups by id, and pages with opaque search_after cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, NotFoundError, TransportError

from read_model.errors import InvalidCursor, ReadModelUnavailable

Sort = list[dict[str, str]]
MAX_ID_BYTES = 512


@dataclass(frozen=True)
class Hit:
    cursor: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Page:
    hits: list[Hit]
    total: int | None  # None when not counted
    has_next_page: bool
    aggregations: dict[str, Any]


class SearchIndex:
    """One alias. Sorts must end with a unique field, so search_after never skips or repeats."""

    def __init__(self, client: AsyncElasticsearch, alias: str) -> None:
        self._client = client
        self._alias = alias

    async def get(self, document_id: str) -> dict[str, Any] | None:
        if not _possible_id(document_id):
            return None
        async with translated_errors():
            try:
                response = await self._client.get(index=self._alias, id=document_id)
            except NotFoundError as error:
                if error.error == "index_not_found_exception":
                    raise
                return None
        source: dict[str, Any] = response["_source"]
        return source

    async def get_many(self, document_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The documents that exist, by id, in one round trip."""
        document_ids = [document_id for document_id in document_ids if _possible_id(document_id)]
        if not document_ids:
            return {}
        async with translated_errors():
            response = await self._client.mget(index=self._alias, ids=document_ids)
        return {doc["_id"]: doc["_source"] for doc in response["docs"] if doc.get("found")}

    async def page(
        self, *, query: dict[str, Any], sort_name: str, sort: Sort, first: int, after: str | None,
        aggregations: dict[str, Any] | None = None, source_excludes: list[str] | None = None,
        count_total: bool = True,
    ) -> Page:
        """`first` hits after the cursor `after`; `sort_name` names the sort inside the cursor.
        Without `count_total` the page has no total, and Elasticsearch may stop early."""
        body: dict[str, Any] = {"query": query, "sort": sort, "size": first + 1, "track_total_hits": count_total}
        if aggregations:
            body["aggs"] = aggregations
        if source_excludes:
            body["source_excludes"] = source_excludes
        if after is not None:
            body["search_after"] = decode_cursor(after, sort_name, len(sort))
        async with translated_errors():
            try:
                response = await self._client.search(index=self._alias, **body)
            except BadRequestError as error:
                if after is None:
                    raise
                raise InvalidCursor("`after` does not fit this query's sort; start again without it.") from error
        raw_hits = response["hits"]["hits"]
        hits = [Hit(encode_cursor(sort_name, hit["sort"]), hit["_source"]) for hit in raw_hits[:first]]
        total = response["hits"]["total"]["value"] if count_total else None
        return Page(hits, total, len(raw_hits) > first, response.get("aggregations", {}))


def _possible_id(document_id: str) -> bool:
    """Elasticsearch ids are 1 to 512 bytes; anything else cannot name a document."""
    return 0 < len(document_id.encode()) <= MAX_ID_BYTES


def encode_cursor(sort_name: str, sort_values: list[Any]) -> str:
    # One a hit: orjson's encoding is a tenth of the standard library's (bench/README.md, R1).
    raw = orjson.dumps({"o": sort_name, "v": sort_values})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort_name: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = decoded["v"]
        cursor_sort = decoded["o"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidCursor("`after` is not a cursor this API handed out.") from error
    if cursor_sort != sort_name or not isinstance(values, list) or len(values) != length:
        raise InvalidCursor("`after` belongs to a different query or sort order; start again without it.")
    if not all(isinstance(value, str | int | float) for value in values):
        raise InvalidCursor("`after` is not a cursor this API handed out.")
    return values


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except NotFoundError as error:
        # A missing alias means no worker has created the indices yet.
        raise ReadModelUnavailable("The read model has not been created yet; start the sync worker.") from error
    except (TransportError, ApiError) as error:
        if isinstance(error, ApiError) and error.meta.status < 500 and error.meta.status != 429:
            raise
        raise ReadModelUnavailable("The read model (Elasticsearch) is unavailable; try again shortly.") from error


def text_query(text: str | None, fields: list[str]) -> list[dict[str, Any]]:
    """Every word must match, each in any of the fields; nothing when there is no text."""
    if not text or not text.strip():
        return []
    return [{"multi_match": {"query": text, "fields": fields, "type": "cross_fields", "operator": "and"}}]


def bool_query(must: list[dict[str, Any]], filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}
