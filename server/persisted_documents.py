"""Which document an operation runs, decided before anything is parsed.

Two ways to name a document instead of sending it:
- automatic persisted queries (Apollo's protocol): `extensions.persistedQuery = {version: 1,
  sha256Hash}`. A hash alone runs the document registered under it, or answers
  PERSISTED_QUERY_NOT_FOUND so the client resends hash and text; hash and text register it.
  Registered documents live in a bounded, in-process LRU.
- trusted documents (production): with a manifest set, only its documents run, named by
  `documentId`, by their APQ hash or by their full text; anything else is refused with
  PERSISTED_QUERY_REQUIRED. Admins may run other documents when the operator allows it.

The LRU is consulted only for callers who may run arbitrary documents, so a trusted server
never runs a document an admin registered for someone else."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from schema.context import Context
from schema.errors import BadUserInput, PersistedQueryNotFound, PersistedQueryRequired
from schema.principal import InvalidCredentials
from server.trusted_documents import TrustedDocuments, normalise_hash, sha256_hex

APQ_VERSION = 1

IsAdmin = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class DocumentRequest:
    """What an operation says about its document, whatever the transport."""

    query: str | None
    extensions: Mapping[str, object] | None = None
    document_id: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> DocumentRequest:
        """From a WebSocket operation's payload, whose fields nobody has checked yet."""
        query, extensions, document_id = payload.get("query"), payload.get("extensions"), payload.get("documentId")
        if not isinstance(query, str | None) or not isinstance(document_id, str | None):
            raise BadUserInput("`query` and `documentId` must be strings, if provided.")
        if not isinstance(extensions, Mapping | None):
            raise BadUserInput("`extensions` must be an object, if provided.")
        return cls(query, extensions, document_id)


class DocumentCache:
    """Documents registered through APQ, by sha256 hex digest. Bounded by their total UTF-8
    size, the resource an anonymous client could otherwise exhaust; the least recently used
    go first. A document larger than the whole budget is run but not kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._documents: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def get(self, digest: str) -> str | None:
        entry = self._documents.get(digest)
        if entry is None:
            return None
        self._documents.move_to_end(digest)
        return entry[0]

    def put(self, digest: str, document: str) -> None:
        size = len(document.encode())
        if digest in self._documents or size > self.max_bytes:
            return
        self._documents[digest] = (document, size)
        self.size_bytes += size
        while self.size_bytes > self.max_bytes:
            _, (_, evicted) = self._documents.popitem(last=False)
            self.size_bytes -= evicted

    def __contains__(self, digest: str) -> bool:
        return digest in self._documents

    def __len__(self) -> int:
        return len(self._documents)


class PersistedDocuments:
    def __init__(self, cache: DocumentCache, trusted: TrustedDocuments | None = None,
                 allow_admin: bool = False) -> None:
        self._cache = cache
        self._trusted = trusted
        self._allow_admin = allow_admin

    @property
    def trusted_only(self) -> bool:
        """Whether only listed documents run (admins' others aside)."""
        return self._trusted is not None

    async def resolve(self, request: DocumentRequest, is_admin: IsAdmin) -> str | None:
        """The document to run; None when the request names none (the caller's usual error).
        Raises a CodedError the caller sends back as the operation's error."""
        claimed = _claimed_hash(request)
        if claimed is not None and request.query is not None and sha256_hex(request.query) != claimed:
            raise BadUserInput("The document's sha256 hash is not the one the request names.")
        if self._trusted is not None:
            listed = self._listed(self._trusted, request, claimed)
            if listed is not None:
                return listed
            if not (self._allow_admin and await is_admin()):
                raise PersistedQueryRequired("This server runs trusted documents only: send the documentId of one.")
        return self._remember_or_recall(request, claimed)

    @staticmethod
    def _listed(trusted: TrustedDocuments, request: DocumentRequest, claimed: str | None) -> str | None:
        if claimed is not None:
            return trusted.get(claimed)
        return None if request.query is None else trusted.get(sha256_hex(request.query))

    def _remember_or_recall(self, request: DocumentRequest, claimed: str | None) -> str | None:
        if request.query is not None:
            if claimed is not None:
                self._cache.put(claimed, request.query)
            return request.query
        if claimed is None:
            return None
        document = self._cache.get(claimed)
        if document is None:
            raise PersistedQueryNotFound()
        return document


def admin_check(context: Context) -> IsAdmin:
    """Whether the caller behind `context` is an admin; bad credentials make nobody one."""

    async def is_admin() -> bool:
        try:
            return (await context.identify()).is_admin
        except InvalidCredentials:
            return False

    return is_admin


def _claimed_hash(request: DocumentRequest) -> str | None:
    """The digest a `documentId` or an APQ extension names, checked for form."""
    if request.document_id is not None:
        digest = normalise_hash(request.document_id)
        if digest is None:
            raise BadUserInput("`documentId` must be a sha256 hex digest, bare or as `sha256:<hex>`.")
        return digest
    persisted = (request.extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, Mapping):
        raise BadUserInput("`extensions.persistedQuery` must be an object.")
    version = persisted.get("version")
    if isinstance(version, bool) or version != APQ_VERSION:
        raise BadUserInput(f"Unsupported persisted query version: this server speaks version {APQ_VERSION}.")
    sha256_hash = persisted.get("sha256Hash")
    digest = normalise_hash(sha256_hash) if isinstance(sha256_hash, str) else None
    if digest is None:
        raise BadUserInput("`extensions.persistedQuery.sha256Hash` must be a sha256 hex digest.")
    return digest
