from __future__ import annotations

from typing import Any

from read_model.indices import CUSTOMERS, PRODUCTS
from sync.indexing import Refusal, bulk_body, describe, refusals
from sync.projections import IndexDocument

DOCUMENTS = [IndexDocument(PRODUCTS, "p-1", 3, {"id": "p-1"}), IndexDocument(CUSTOMERS, "c-1", 40, {"id": "c-1"})]


def _answer(status: int, error: Any = None) -> dict[str, Any]:
    return {"index": {"status": status, **({} if error is None else {"error": error})}}


def test_the_bulk_body_pairs_each_externally_versioned_action_with_its_document() -> None:
    body = bulk_body(DOCUMENTS, lambda definition: f"test-{definition.name}")
    assert body == [
        {"index": {"_index": "test-products", "_id": "p-1", "version": 3, "version_type": "external"}},
        {"id": "p-1"},
        {"index": {"_index": "test-customers", "_id": "c-1", "version": 40, "version_type": "external"}},
        {"id": "c-1"},
    ]


def test_a_response_without_errors_refuses_nothing() -> None:
    assert refusals(["a", "b"], {"errors": False, "items": [_answer(201), _answer(200)]}) == []


def test_already_holding_a_newer_version_is_not_a_refusal() -> None:
    assert refusals(["a", "b"], {"errors": True, "items": [_answer(201), _answer(409, {"type": "conflict"})]}) == []


def test_refusals_name_their_item_status_and_reason_in_order() -> None:
    response = {"errors": True, "items": [
        _answer(400, {"type": "mapper_parsing_exception", "reason": "failed to parse field [name]"}),
        _answer(201),
        _answer(429, "too many requests"),
    ]}
    assert refusals(["a", "b", "c"], response) == [
        Refusal("a", 400, "mapper_parsing_exception: failed to parse field [name]"),
        Refusal("c", 429, "too many requests"),
    ]


def test_a_busy_or_unwell_cluster_is_transient_and_a_bad_document_is_not() -> None:
    assert [status for status in (400, 404, 409, 413, 429, 500, 502, 503, 504) if Refusal("x", status, "").transient] \
        == [429, 500, 502, 503, 504]


def test_describe_reads_an_error_object_or_falls_back_to_its_text() -> None:
    assert describe({"type": "t", "reason": "r"}) == "t: r"
    assert describe("plain") == "plain"
    assert describe(None) == "None"
