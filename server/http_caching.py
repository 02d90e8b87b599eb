"""Cache-Control for GraphQL answers to GET, the only cacheable ones (mutations need POST).

Reads come from an eventually consistent read model anyway, and a read that must see a write
names it in `consistentWith`, which is part of the URL: a cached answer still honours it.
Answers depend on the caller, so one to a request with credentials is for that caller's own
cache only. Errors are never stored: a cached PersistedQueryNotFound would outlive the
registration that follows it."""

from __future__ import annotations

from strawberry.types import ExecutionResult


def cache_headers(result: ExecutionResult, authorization: str | None, max_age_s: int) -> dict[str, str]:
    if result.errors or max_age_s == 0:
        return {"Cache-Control": "no-store"}
    scope = "private" if authorization else "public"
    return {"Cache-Control": f"{scope}, max-age={max_age_s}", "Vary": "Authorization"}
