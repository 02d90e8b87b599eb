"""Pure comparison of a read index with what the write model says it should hold.

Both sides come as streams of entries sorted by the same key, so they are compared as a merge
join: one entry of each side in memory at a time, whatever the size of the index.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DriftKind(StrEnum):
    MISSING = "missing"  # the write model has it, the index does not
    EXTRA = "extra"  # the index has it, the write model does not
    BEHIND = "behind"  # the index holds an older version
    DIFFERS = "differs"  # fields differ
    AHEAD = "ahead"  # same fields, but a newer version than the write model's: a direct write


@dataclass(frozen=True)
class Entry:
    """One document of either side. `key` orders the stream (None: a document whose key field
    is absent or does not match its `id`, which nothing can match); `version` is None where it
    cannot be compared (a customer's, as a snapshot sees it: see `project`)."""

    key: str | None
    id: str
    version: int | None
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Drift:
    index: str
    id: str
    kind: DriftKind
    expected_version: int | None = None
    actual_version: int | None = None
    fields: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "kind": self.kind.value, "expectedVersion": self.expected_version,
                "actualVersion": self.actual_version, "fields": list(self.fields)}

    def describe(self) -> str:
        versions = f" (version {self.actual_version}, expected {self.expected_version})" if (
            self.kind in (DriftKind.BEHIND, DriftKind.AHEAD)) else ""
        fields = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{self.index}/{self.id}: {self.kind.value}{versions}{fields}"


def compare(index: str, expected: Entry | None, actual: Entry | None) -> Drift | None:
    """The drift between what the index should hold at an id and what it holds, or None."""
    if expected is None and actual is None:
        return None
    if actual is None:
        assert expected is not None
        return Drift(index, expected.id, DriftKind.MISSING, expected_version=expected.version)
    if expected is None:
        return Drift(index, actual.id, DriftKind.EXTRA, actual_version=actual.version)
    fields = differing_fields(expected.document, actual.document)
    offset = 0 if expected.version is None or actual.version is None else actual.version - expected.version
    if offset < 0:
        kind = DriftKind.BEHIND
    elif fields:
        kind = DriftKind.DIFFERS
    elif offset > 0:
        kind = DriftKind.AHEAD
    else:
        return None
    return Drift(index, expected.id, kind, expected.version, actual.version, fields)


def differing_fields(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> tuple[str, ...]:
    absent = object()
    return tuple(sorted(name for name in expected.keys() | actual.keys()
                        if expected.get(name, absent) != actual.get(name, absent)))


async def merge_join(index: str, expected: AsyncIterable[Entry], actual: AsyncIterable[Entry]) -> AsyncIterator[Drift]:
    """Every drift between two streams sorted by key (expected entries all have a key)."""
    expected_entries, actual_entries = aiter(expected), aiter(actual)
    want = await anext(expected_entries, None)
    have = await anext(actual_entries, None)
    while want is not None or have is not None:
        pair = _next_pair(want, have)
        drift = compare(index, *pair)
        if drift is not None:
            yield drift
        if pair[0] is not None:
            want = await anext(expected_entries, None)
        if pair[1] is not None:
            have = await anext(actual_entries, None)


def _next_pair(want: Entry | None, have: Entry | None) -> tuple[Entry | None, Entry | None]:
    """What to compare next: both entries when their keys meet, else the one whose key comes first."""
    if have is None:
        return want, None
    if want is None or have.key is None:
        return None, have
    want_key = want.key or ""
    if want_key < have.key:
        return want, None
    if have.key < want_key:
        return None, have
    return want, have
