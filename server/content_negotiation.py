"""Which media type answers a GraphQL request, and which request bodies are read.

Follows RFC 9110 (Accept with q-values and wildcards, the most specific range deciding a
type's quality) and the GraphQL-over-HTTP draft: `application/graphql-response+json` when
the client asks for it at least as much as for `application/json`, `application/json` for
clients that send no Accept, `*/*` or prefer it. Streams (`multipart/mixed` with
`subscriptionSpec=1.0`, Apollo's protocol; `text/event-stream`, GraphQL over SSE) are
chosen only when named. Parsing is one pass over the header.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
JsonMediaType = Literal["application/graphql-response+json", "application/json"]
StreamProtocol = Literal["multipart-subscription", "sse"]

# When a wildcard accepts both equally, answer as before the spec: legacy clients expect it.
_JSON_TYPES: tuple[JsonMediaType, ...] = (JSON, GRAPHQL_RESPONSE_JSON)
_MULTIPART_BOUNDARY = "graphql"
# A request asks the same questions of its headers several times over (strawberry's view and
# ours), and a client sends the same few headers again and again: the answers are kept, per
# header, for the most recent headers seen.
HEADERS_KEPT = 256


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: dict[str, str]
    q: float
    position: int

    def specificity(self, media_type: str) -> int:
        """How exactly this range names `media_type` (2 exact, 1 `type/*`, 0 `*/*`), -1 if not."""
        type_, _, subtype = media_type.partition("/")
        if (self.type, self.subtype) == (type_, subtype):
            return 2
        if self.type == type_ and self.subtype == "*":
            return 1
        return 0 if (self.type, self.subtype) == ("*", "*") else -1


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` in lower case and its parameters (names lower case, values unquoted)."""
    name, *params = _split(value, ";")
    parsed = {}
    for param in params:
        key, _, raw = param.partition("=")
        parsed[key.strip().lower()] = raw.strip().strip('"')
    return name.strip().lower(), parsed


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for position, part in enumerate(_split(header, ",")):
        name, params = parse_media_type(part)
        type_, slash, subtype = name.partition("/")
        q = _quality(params.pop("q", "1"))
        if slash and type_ and subtype and q is not None:
            ranges.append(MediaRange(type_, subtype, params, q, position))
    return ranges


@lru_cache(maxsize=HEADERS_KEPT)
def json_media_type(accept: str | None) -> JsonMediaType | None:
    """The media type of a JSON answer, or None when the Accept header allows neither."""
    if accept is None or not accept.strip():
        return JSON
    ranges = parse_accept(accept)
    best: tuple[tuple[float, int, int], JsonMediaType] | None = None
    for media_type in _JSON_TYPES:
        match = _best_match(ranges, media_type)
        if match is None or match.q == 0:
            continue
        rank = (match.q, match.specificity(media_type), -match.position)
        if best is None or rank > best[0]:  # a tie keeps the earlier, legacy-friendly type
            best = (rank, media_type)
    return None if best is None else best[1]


@lru_cache(maxsize=HEADERS_KEPT)
def stream_protocol(accept: str | None) -> StreamProtocol | None:
    """The HTTP stream the Accept header names explicitly (wildcards never select a stream)."""
    chosen: tuple[float, int, StreamProtocol] | None = None
    for media_range in parse_accept(accept or ""):
        protocol = _stream_of(media_range)
        if protocol is None or media_range.q == 0:
            continue
        if chosen is None or (media_range.q, -media_range.position) > chosen[:2]:
            chosen = (media_range.q, -media_range.position, protocol)
    return None if chosen is None else chosen[2]


@lru_cache(maxsize=HEADERS_KEPT)
def unreadable_body_reason(content_type: str | None) -> str | None:
    """Why a POST body of this Content-Type is not read (415), or None for JSON in UTF-8."""
    if content_type is None or not content_type.strip():
        return "A POST request needs `Content-Type: application/json`."
    name, params = parse_media_type(content_type)
    if name != JSON:
        return f"Unsupported Content-Type {name!r}: send the request as application/json."
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        return f"Unsupported charset {charset!r}: send the request body in UTF-8."
    return None


def _best_match(ranges: list[MediaRange], media_type: str) -> MediaRange | None:
    """The range that decides `media_type`'s quality: the most specific one naming it."""
    matching = [r for r in ranges if r.specificity(media_type) >= 0]
    return max(matching, key=lambda r: (r.specificity(media_type), -r.position), default=None)


def _stream_of(media_range: MediaRange) -> StreamProtocol | None:
    if (media_range.type, media_range.subtype) == ("text", "event-stream"):
        return "sse"
    if ((media_range.type, media_range.subtype) == ("multipart", "mixed")
            and media_range.params.get("subscriptionspec", "").startswith("1.0")
            and media_range.params.get("boundary", _MULTIPART_BOUNDARY) == _MULTIPART_BOUNDARY):
        return "multipart-subscription"
    return None


def _quality(value: str) -> float | None:
    """RFC 9110 weight (0 to 1, at most three decimals); None for anything else."""
    try:
        q = float(value)
    except ValueError:
        return None
    return q if 0 <= q <= 1 and len(value.strip()) <= 5 else None


def _split(value: str, separator: str) -> Iterator[str]:
    """Splits on `separator` outside double-quoted strings (which may hold it)."""
    start, quoted = 0, False
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield value[start:index]
            start = index + 1
    yield value[start:]
