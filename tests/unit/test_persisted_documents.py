"""The APQ store, the trusted documents manifest and the rules that pick an operation's document."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from schema.errors import (
    BAD_USER_INPUT,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_REQUIRED,
    CodedError,
)
from server.persisted_documents import DocumentCache, DocumentRequest, IsAdmin, PersistedDocuments
from server.trusted_documents import ManifestError, TrustedDocuments

LISTED = "query Listed { products { totalCount } }"
OTHER = "query Other { syncStatus { lag } }"
MANIFEST = Path("manifest.json")


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str | None, sha256_hash: str, version: object = 1) -> DocumentRequest:
    return DocumentRequest(document, {"persistedQuery": {"version": version, "sha256Hash": sha256_hash}})


def caller(admin: bool) -> IsAdmin:
    async def is_admin() -> bool:
        return admin

    return is_admin


NOBODY, ADMIN = caller(False), caller(True)


def trusted(*documents: str) -> TrustedDocuments:
    return TrustedDocuments.parse(MANIFEST, json.dumps({digest(d): d for d in documents}).encode())


async def refusal(documents: PersistedDocuments, request: DocumentRequest, is_admin: IsAdmin = NOBODY) -> str:
    with pytest.raises(CodedError) as refused:
        await documents.resolve(request, is_admin)
    return str((refused.value.extensions or {})["code"])


# -------------------------------------------------------------- the LRU


def test_the_cache_evicts_the_least_recently_used_to_stay_within_its_bytes() -> None:
    cache = DocumentCache(max_bytes=30)
    for name in "abc":
        cache.put(name, name * 10)
    assert cache.get("a") == "a" * 10  # now the most recent
    cache.put("d", "d" * 10)
    assert ("a" in cache, "b" in cache, "c" in cache, "d" in cache) == (True, False, True, True)
    assert cache.size_bytes == 30


def test_the_cache_counts_utf8_bytes_and_skips_a_document_larger_than_it() -> None:
    cache = DocumentCache(max_bytes=10)
    cache.put("wide", "é" * 6)  # 12 bytes
    cache.put("fits", "é" * 5)
    assert ("wide" in cache, "fits" in cache, cache.size_bytes) == (False, True, 10)


# -------------------------------------------------------------- APQ


async def test_a_hash_alone_is_not_found_until_hash_and_text_register_it() -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20))
    assert await refusal(documents, apq(None, digest(LISTED))) == PERSISTED_QUERY_NOT_FOUND
    assert await documents.resolve(apq(LISTED, digest(LISTED)), NOBODY) == LISTED
    assert await documents.resolve(apq(None, digest(LISTED).upper()), NOBODY) == LISTED


async def test_a_hash_that_is_not_the_texts_is_bad_input_and_registers_nothing() -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20))
    assert await refusal(documents, apq(LISTED, digest(OTHER))) == BAD_USER_INPUT
    assert await refusal(documents, apq(None, digest(OTHER))) == PERSISTED_QUERY_NOT_FOUND


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
async def test_only_version_1_is_spoken(version: object) -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20))
    assert await refusal(documents, apq(LISTED, digest(LISTED), version)) == BAD_USER_INPUT


@pytest.mark.parametrize("extensions", [{"persistedQuery": "abc"}, {"persistedQuery": {"version": 1}},
                                        {"persistedQuery": {"version": 1, "sha256Hash": "not-hex"}}])
async def test_a_malformed_persisted_query_is_bad_input(extensions: dict[str, object]) -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20))
    assert await refusal(documents, DocumentRequest(None, extensions)) == BAD_USER_INPUT


async def test_plain_requests_pass_through_untouched() -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20))
    assert await documents.resolve(DocumentRequest("{ not even graphql"), NOBODY) == "{ not even graphql"
    assert await documents.resolve(DocumentRequest(None), NOBODY) is None


# -------------------------------------------------------------- trusted documents


@pytest.mark.parametrize("request_for_listed", [
    DocumentRequest(None, document_id=digest(LISTED)),
    DocumentRequest(None, document_id=f"sha256:{digest(LISTED)}"),
    apq(None, digest(LISTED)),
    DocumentRequest(LISTED),
], ids=["documentId", "prefixed documentId", "APQ hash", "full text"])
async def test_a_listed_document_runs_however_it_is_named(request_for_listed: DocumentRequest) -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20), trusted(LISTED))
    assert await documents.resolve(request_for_listed, NOBODY) == LISTED


@pytest.mark.parametrize("unlisted", [
    DocumentRequest("{ not even graphql"),
    DocumentRequest(None, document_id=digest(OTHER)),
    apq(None, digest(OTHER)),
    apq(OTHER, digest(OTHER)),
    DocumentRequest(None),
], ids=["invalid text", "documentId", "APQ hash", "APQ registration", "nothing"])
async def test_anything_else_is_refused_even_for_admins_by_default(unlisted: DocumentRequest) -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20), trusted(LISTED))
    assert await refusal(documents, unlisted, ADMIN) == PERSISTED_QUERY_REQUIRED


async def test_admins_run_other_documents_only_when_allowed_and_nobody_else_reuses_them() -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20), trusted(LISTED), allow_admin=True)
    assert await documents.resolve(DocumentRequest(OTHER), ADMIN) == OTHER
    assert await refusal(documents, apq(None, digest(OTHER)), ADMIN) == PERSISTED_QUERY_NOT_FOUND
    assert await documents.resolve(apq(OTHER, digest(OTHER)), ADMIN) == OTHER
    assert await documents.resolve(apq(None, digest(OTHER)), ADMIN) == OTHER
    assert await refusal(documents, apq(None, digest(OTHER)), NOBODY) == PERSISTED_QUERY_REQUIRED
    assert await refusal(documents, DocumentRequest(OTHER), NOBODY) == PERSISTED_QUERY_REQUIRED


async def test_a_mismatching_hash_is_bad_input_before_the_manifest_is_asked() -> None:
    documents = PersistedDocuments(DocumentCache(1 << 20), trusted(LISTED))
    assert await refusal(documents, apq(LISTED, digest(OTHER))) == BAD_USER_INPUT


def test_a_websocket_payload_with_fields_of_the_wrong_type_is_bad_input() -> None:
    for payload in ({"query": 1}, {"documentId": ["x"]}, {"query": "{ a }", "extensions": "x"}):
        with pytest.raises(CodedError) as refused:
            DocumentRequest.from_payload(payload)
        assert (refused.value.extensions or {})["code"] == BAD_USER_INPUT


# -------------------------------------------------------------- the manifest


def test_the_manifest_accepts_bare_and_prefixed_hashes() -> None:
    content = json.dumps({digest(LISTED): LISTED, f"sha256:{digest(OTHER).upper()}": OTHER}).encode()
    manifest = TrustedDocuments.parse(MANIFEST, content)
    assert (len(manifest), manifest.get(digest(LISTED)), manifest.get(digest(OTHER))) == (2, LISTED, OTHER)


@pytest.mark.parametrize(("content", "complaint"), [
    (b"{not json", "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
    (b'["a list"]', "must be a JSON object"),
    (json.dumps({"abc": LISTED}).encode(), "must map a sha256 hex digest"),
    (json.dumps({digest(LISTED): 42}).encode(), "must map a sha256 hex digest"),
    (json.dumps({digest(OTHER): LISTED}).encode(), "is not the sha256 hash of its document"),
])
def test_a_malformed_manifest_is_refused_with_the_reason(content: bytes, complaint: str) -> None:
    with pytest.raises(ManifestError, match=complaint) as refused:
        TrustedDocuments.parse(MANIFEST, content)
    assert "\n" not in str(refused.value)
