"""The merge join that compares an index with the write model, on streams built in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from sync.drift import Drift, DriftKind, Entry, compare, merge_join


def _entry(key: str, version: int | None = 1, **document: Any) -> Entry:
    return Entry(key, key, version, {"id": key, **document})


async def _stream(entries: Iterable[Entry]) -> AsyncIterator[Entry]:
    for entry in entries:
        yield entry


async def _drifts(expected: list[Entry], actual: list[Entry]) -> list[tuple[str, DriftKind]]:
    return [(drift.id, drift.kind) async for drift in merge_join("products", _stream(expected), _stream(actual))]


async def test_equal_streams_have_no_drift() -> None:
    entries = [_entry("a", name="A"), _entry("b", name="B")]

    assert await _drifts(entries, list(entries)) == []


async def test_each_gap_on_either_side_is_named_once_in_key_order() -> None:
    expected = [_entry("a"), _entry("b"), _entry("d"), _entry("f")]
    actual = [_entry("b"), _entry("c"), _entry("f"), _entry("g")]

    assert await _drifts(expected, actual) == [
        ("a", DriftKind.MISSING), ("c", DriftKind.EXTRA), ("d", DriftKind.MISSING), ("g", DriftKind.EXTRA)]


async def test_an_empty_side_makes_every_entry_of_the_other_drift() -> None:
    assert await _drifts([_entry("a"), _entry("b")], []) == [("a", DriftKind.MISSING), ("b", DriftKind.MISSING)]
    assert await _drifts([], [_entry("a")]) == [("a", DriftKind.EXTRA)]


async def test_a_document_without_a_matching_key_is_extra_and_leaves_the_join_in_step() -> None:
    stray = Entry(None, "x", 1, {"id": "elsewhere"})

    assert await _drifts([_entry("a"), _entry("b")], [_entry("a"), stray, _entry("b")]) == [("x", DriftKind.EXTRA)]


def test_an_older_version_is_behind_whatever_the_fields() -> None:
    drift = compare("products", _entry("a", 3, name="new"), _entry("a", 2, name="old"))

    assert drift == Drift("products", "a", DriftKind.BEHIND, 3, 2, ("name",))


def test_changed_fields_are_named_sorted_including_absent_ones() -> None:
    drift = compare("products", _entry("a", 2, name="A", stock=1), _entry("a", 3, name="B", extra=True))

    assert drift == Drift("products", "a", DriftKind.DIFFERS, 2, 3, ("extra", "name", "stock"))


def test_a_newer_version_with_the_same_fields_is_ahead() -> None:
    assert compare("products", _entry("a", 2, name="A"), _entry("a", 5, name="A")) == Drift(
        "products", "a", DriftKind.AHEAD, 2, 5)


def test_unknown_versions_compare_only_fields() -> None:
    assert compare("customers", _entry("a", None, name="A"), _entry("a", 9, name="A")) is None
    drift = compare("customers", _entry("a", None, name="A"), _entry("a", 9, name="B"))
    assert drift is not None and drift.kind is DriftKind.DIFFERS


def test_a_drift_describes_itself_by_index_and_id_as_text_and_json() -> None:
    drift = Drift("orders", "o-1", DriftKind.BEHIND, 3, 2, ("status",))

    assert drift.describe() == "orders/o-1: behind (version 2, expected 3): status"
    assert drift.as_json() == {"index": "orders", "id": "o-1", "kind": "behind", "expectedVersion": 3,
                               "actualVersion": 2, "fields": ["status"]}
