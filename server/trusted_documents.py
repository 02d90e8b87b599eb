"""The manifest of trusted documents: the only operations a production server runs.

Its format is the one GraphQL Code Generator's client preset writes with `persistedDocuments`:
a JSON object of `{"<sha256 hex of the document>": "<document>"}`. Keys may also carry the
`sha256:` prefix the preset puts in front of a `documentId`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_PREFIX = "sha256:"


class ManifestError(ValueError):
    """The manifest cannot be read, is not `{hash: document}`, or a hash is not its document's."""


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def normalise_hash(value: str) -> str | None:
    """The lowercase hex digest in `value` (bare or `sha256:`-prefixed); None if it is neither."""
    digest = value.removeprefix(_PREFIX).lower()
    return digest if _HEX_DIGEST.fullmatch(digest) else None


class TrustedDocuments:
    def __init__(self, path: Path, documents: Mapping[str, str]) -> None:
        self.path = path
        self._documents = dict(documents)

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise ManifestError(f"cannot read the trusted documents manifest {path}: {error.strerror}") from None
        return cls.parse(path, content)

    @classmethod
    def parse(cls, path: Path, content: bytes) -> TrustedDocuments:
        """Checks every entry: a hash that is not its document's is a build gone wrong."""
        try:
            manifest = json.loads(content)
        except (ValueError, RecursionError) as error:
            raise ManifestError(f"the trusted documents manifest {path} is not JSON: {error}") from None
        return cls(path, _validated(path, manifest))

    def get(self, digest: str) -> str | None:
        return self._documents.get(digest)

    def __len__(self) -> int:
        return len(self._documents)

    def __repr__(self) -> str:
        return f"TrustedDocuments({str(self.path)!r}, {len(self)} documents)"


def _validated(path: Path, manifest: object) -> dict[str, str]:
    if not isinstance(manifest, dict):
        raise ManifestError(f"the trusted documents manifest {path} must be a JSON object of {{hash: document}}")
    documents: dict[str, str] = {}
    for key, document in manifest.items():
        digest = normalise_hash(key)
        if digest is None or not isinstance(document, str):
            raise ManifestError(f"{path}: entry {key[:80]!r} must map a sha256 hex digest to a document string")
        if sha256_hex(document) != digest:
            raise ManifestError(f"{path}: entry {key[:80]!r} is not the sha256 hash of its document")
        documents[digest] = document
    return documents
