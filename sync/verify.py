"""Auditing the read model: each index against what the write model says it should hold.

An index built from state (products, customers, orders) is compared with a snapshot of the
write model's current state; the events index with the outbox. Both sides are streamed in key
order (ids; positions for events) and merge-joined (`sync.drift`), so memory stays bounded
whatever the size. A write that lands while the streams are read makes a document look
different for a moment: every suspect is therefore checked again, one batch at a time, once
the worker has indexed everything committed by then; only what still differs is drift.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch

from read_model.indices import CUSTOMERS, IndexDefinition
from sync.drift import Drift, Entry, compare, merge_join
from sync.errors import RepairError
from sync.indexing import describe
from sync.positions import IndexedPositionTracker
from sync.projections import IndexDocument, Record, project
from write_model.database import Database
from write_model.outbox import Outbox
from write_model.snapshots import open_snapshot

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
RECHECK_BATCH = 500
REPAIR_BATCH = 500
# How long a recheck waits for the worker to index what was committed before it (it goes on
# without: a worker that stays behind is drift too).
CATCH_UP_S = 10.0
# How long a repair waits for Elasticsearch to forget a version it must go below (see _force).
FORGET_VERSION_S = 30.0
_FORGET_POLL_S = 0.25
CONFLICT = 409
# A snapshot versions these documents by its own position, not by the position of the event
# that last changed each (`project`): only their fields can be compared.
_VERSIONED_BY_POSITION = frozenset({CUSTOMERS.name})


@dataclass(frozen=True)
class Finding:
    """A confirmed drift, with what the index should hold there (None: nothing) and the
    sequence number and primary term of the document as it was found (None: absent)."""

    drift: Drift
    expected: IndexDocument | None
    seen: tuple[int, int] | None


@dataclass(frozen=True)
class _Window:
    """The keys after `after`, up to `until` (None: to the end)."""

    after: str = ""
    until: str | None = None


class Verifier:
    def __init__(self, database: Database, outbox: Outbox, client: AsyncElasticsearch, prefix: str, currency: str,
                 indexed_position: IndexedPositionTracker) -> None:
        self._database = database
        self._outbox = outbox
        self._client = client
        self._prefix = prefix
        self._currency = currency
        self._indexed_position = indexed_position

    async def verify(self, definition: IndexDefinition) -> AsyncIterator[Finding]:
        """Every drift of the whole index, in key order."""
        drifts = merge_join(definition.name, self._expected(definition, _Window()),
                            self._actual(definition, _Window()))
        batch: list[Drift] = []
        async for drift in drifts:
            batch.append(drift)
            if len(batch) == RECHECK_BATCH:
                for finding in await self._confirm(definition, batch):
                    yield finding
                batch = []
        for finding in await self._confirm(definition, batch):
            yield finding

    async def sample(self, definition: IndexDefinition, size: int) -> list[Finding]:
        """The drifts among about `size` consecutive documents from a random key on (wrapping
        around to the first key), so that each round of the background check is bounded."""
        start = await self._random_key(definition)
        findings, checked = await self._sample_window(definition, _Window(after=start), size)
        if checked < size and start:
            more, _ = await self._sample_window(definition, _Window(until=start), size - checked)
            findings += more
        return findings

    async def repair(self, definition: IndexDefinition, findings: Sequence[Finding]) -> None:
        """Make each document the write model's again, and delete the extra ones."""
        if not findings:
            return
        alias = definition.alias(self._prefix)
        response = await self._client.bulk(operations=_repair_body(alias, findings), refresh=True)
        refused = [(finding, item) for finding, item in zip(findings, response["items"], strict=True)
                   if next(iter(item.values()))["status"] >= 300]
        # A refused delete found the document written since: it is no longer extra.
        conflicts = [finding for finding, item in refused
                     if next(iter(item.values()))["status"] == CONFLICT and finding.expected is not None]
        others = [(finding, item) for finding, item in refused if next(iter(item.values()))["status"] != CONFLICT]
        if others:
            finding, item = others[0]
            raise RepairError(f"{len(others)} repairs refused, first {finding.drift.index}/{finding.drift.id}: "
                              f"{describe(next(iter(item.values())).get('error'))}")
        if conflicts:
            await self._force(alias, conflicts)

    async def _force(self, alias: str, conflicts: list[Finding]) -> None:
        """Write documents whose version in the index is above the write model's: someone wrote or
        deleted them directly, so the index (or its memory of a deletion) holds a version that
        `external_gte` with the right one is refused for. Writing at the higher version instead
        would leave the worker's next versions refused as stale, so the document is deleted and
        written again at the right version once Elasticsearch has forgotten the deleted version:
        it keeps that `index.gc_deletes` long (60 s by default), which is set to 0 meanwhile.
        The documents are absent for that moment; the write model's next versions win as ever."""
        previous = await self._gc_deletes(alias)
        await self._client.indices.put_settings(index=alias, settings={"index.gc_deletes": "0s"})
        try:
            for finding in conflicts:
                await self._delete_as_seen(alias, finding)
            await self._write_once_forgotten(alias, conflicts)
        finally:
            await self._client.indices.put_settings(index=alias, settings={"index.gc_deletes": previous})

    async def _gc_deletes(self, alias: str) -> str | None:
        response = await self._client.indices.get_settings(index=alias, name="index.gc_deletes")
        values = [settings["settings"].get("index", {}).get("gc_deletes") for settings in response.body.values()]
        return next((value for value in values if value is not None), None)

    async def _delete_as_seen(self, alias: str, finding: Finding) -> None:
        """Delete the document unless it changed since it was found (then it was written anew)."""
        if finding.seen is None:
            return
        seq_no, primary_term = finding.seen
        await self._client.options(ignore_status=(404, CONFLICT)).delete(
            index=alias, id=finding.drift.id, if_seq_no=seq_no, if_primary_term=primary_term)

    async def _write_once_forgotten(self, alias: str, findings: list[Finding]) -> None:
        deadline = time.monotonic() + FORGET_VERSION_S
        while findings:
            await self._client.indices.refresh(index=alias)  # forgetting deleted versions happens on refresh
            response = await self._client.bulk(operations=_repair_body(alias, findings), refresh=True)
            findings = [finding for finding, item in zip(findings, response["items"], strict=True)
                        if item["index"]["status"] == CONFLICT and not await self._written_since(alias, finding)]
            if findings and time.monotonic() > deadline:
                raise RepairError(f"Elasticsearch still remembers a newer version of {alias}/{findings[0].drift.id} "
                                  f"after {FORGET_VERSION_S:.0f}s")
            if findings:
                await asyncio.sleep(_FORGET_POLL_S)

    async def _written_since(self, alias: str, finding: Finding) -> bool:
        """Whether the document exists again at its version or a newer one (the worker wrote it)."""
        assert finding.expected is not None
        found = await self._client.options(ignore_status=404).get(index=alias, id=finding.drift.id, source=False)
        return bool(found.body.get("found")) and found["_version"] >= finding.expected.version

    async def _sample_window(self, definition: IndexDefinition, window: _Window, size: int
                             ) -> tuple[list[Finding], int]:
        expected: list[Entry] = []
        async with aclosing(self._expected(definition, window)) as entries:  # closes its snapshot on break
            async for entry in entries:
                expected.append(entry)
                if len(expected) == size:
                    window = _Window(window.after, entry.key)
                    break
        drifts = [drift async for drift in merge_join(definition.name, _stream(expected),
                                                       self._actual(definition, window))]
        return await self._confirm(definition, drifts), len(expected)

    async def _random_key(self, definition: IndexDefinition) -> str:
        if definition.from_state:
            return str(uuid.uuid4())  # ids are UUIDs: any one falls between them at random
        return _position_key(random.randrange(await self._outbox.head() + 1))

    async def _expected(self, definition: IndexDefinition, window: _Window) -> AsyncGenerator[Entry, None]:
        if definition.from_state:
            async with open_snapshot(self._database) as snapshot:
                async for states in snapshot.states(definition.name, PAGE_SIZE, after=window.after,
                                                    until=window.until):
                    for document in self._documents(definition, states):
                        yield _expected_entry(definition, document)
            return
        position, until = int(window.after or 0), int(window.until) if window.until else None
        while events := await self._outbox.read_after(position, PAGE_SIZE):
            for document in self._documents(definition, [event for event in events
                                                         if until is None or event.position <= until]):
                yield _expected_entry(definition, document)
            position = events[-1].position
            if until is not None and position >= until:
                return

    async def _actual(self, definition: IndexDefinition, window: _Window) -> AsyncIterator[Entry]:
        """The index's documents in key order, through a point in time so paging sees one state."""
        key_field = _key_field(definition)
        bounds: dict[str, Any] = {}
        if window.after:
            bounds["gt"] = window.after if definition.from_state else int(window.after)
        if window.until is not None:
            bounds["lte"] = window.until if definition.from_state else int(window.until)
        query = {"range": {key_field: bounds}} if bounds else {"match_all": {}}
        pit = await self._client.open_point_in_time(index=definition.alias(self._prefix), keep_alive="2m")
        pit_id = pit["id"]
        try:
            search_after: list[Any] | None = None
            while True:
                page = await self._client.search(
                    pit={"id": pit_id, "keep_alive": "2m"}, query=query, size=PAGE_SIZE, version=True,
                    sort=[{key_field: {"order": "asc", "missing": "_last"}}], search_after=search_after,
                    track_total_hits=False)
                pit_id = page.body.get("pit_id", pit_id)
                hits = page["hits"]["hits"]
                for hit in hits:
                    yield _actual_entry(definition, hit["_id"], hit["_version"], hit["_source"])
                if len(hits) < PAGE_SIZE:
                    return
                search_after = hits[-1]["sort"]
        finally:
            await self._client.close_point_in_time(id=pit_id)

    async def _confirm(self, definition: IndexDefinition, drifts: Iterable[Drift]) -> list[Finding]:
        """The drifts that are still there once the worker indexed what is committed now."""
        ids = list(dict.fromkeys(drift.id for drift in drifts))
        if not ids:
            return []
        await self._indexed_position.wait_for(await self._outbox.head(), CATCH_UP_S)
        expected = await self._expected_at(definition, ids)
        found = await self._client.mget(index=definition.alias(self._prefix), ids=ids)
        findings = []
        for document_id, doc in zip(ids, found["docs"], strict=True):
            actual = _actual_entry(definition, document_id, doc["_version"], doc["_source"]) if doc.get("found") \
                else None
            wanted = expected.get(document_id)
            drift = compare(definition.name, None if wanted is None else _expected_entry(definition, wanted), actual)
            if drift is not None:
                seen = (doc["_seq_no"], doc["_primary_term"]) if actual else None
                findings.append(Finding(drift, wanted, seen))
        return findings

    async def _expected_at(self, definition: IndexDefinition, ids: list[str]) -> dict[str, IndexDocument]:
        records: list[Record]
        if definition.from_state:
            async with open_snapshot(self._database) as snapshot:
                records = [state async for states in snapshot.states(definition.name, PAGE_SIZE, only=ids)
                           for state in states]
        else:
            records = list(await self._outbox.read_at([int(id_) for id_ in ids if id_.isdigit()]))
        return {document.id: document for document in self._documents(definition, records)}

    def _documents(self, definition: IndexDefinition, records: Sequence[Record]) -> list[IndexDocument]:
        return [document for record in records for document in project(record, self._currency)
                if document.index is definition]



def _key_field(definition: IndexDefinition) -> str:
    """Documents built from state are keyed by their aggregate's id; events by their position."""
    return "id" if definition.from_state else "position"


def _position_key(position: int) -> str:
    """A position as a key that sorts as the number does."""
    return f"{position:020d}"


def _expected_entry(definition: IndexDefinition, document: IndexDocument) -> Entry:
    key = document.id if definition.from_state else _position_key(document.document["position"])
    return Entry(key, document.id, document.version if _comparable_versions(definition) else None, document.document)


def _comparable_versions(definition: IndexDefinition) -> bool:
    return definition.name not in _VERSIONED_BY_POSITION or not definition.from_state


def _actual_entry(definition: IndexDefinition, document_id: str, version: int, source: Mapping[str, Any]) -> Entry:
    """The entry of a document found in the index; its key is None when its key field does not
    name its own id (a stray document, or one written under the wrong id)."""
    value = source.get(_key_field(definition))
    key = None if value is None or str(value) != document_id else (
        document_id if definition.from_state else _position_key(int(value)))
    return Entry(key, document_id, version if _comparable_versions(definition) else None, source)


def _repair_body(alias: str, findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """`external_gte` at the write model's version: it replaces a document that holds that very
    version with other fields (plain `external` would refuse it as not newer), and still never
    a newer one the worker wrote meanwhile."""
    body: list[dict[str, Any]] = []
    for finding in findings:
        if finding.expected is None:  # unless it was written since it was found
            seen = {} if finding.seen is None else {"if_seq_no": finding.seen[0], "if_primary_term": finding.seen[1]}
            body.append({"delete": {"_index": alias, "_id": finding.drift.id, **seen}})
            continue
        body.append({"index": {"_index": alias, "_id": finding.expected.id, "version": finding.expected.version,
                               "version_type": "external_gte"}})
        body.append(finding.expected.document)
    return body


async def _stream(entries: Iterable[Entry]) -> AsyncIterator[Entry]:
    for entry in entries:
        yield entry
