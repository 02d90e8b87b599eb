"""An identity provider's signing keys, fetched from its JWKS endpoint and kept between fetches.

PyJWKClient fetches, parses and filters the key set; the cache is ours because PyJWKClient's
own one drops every key once its lifespan ends even while the endpoint is down, holds a lock
(so every lookup waits) across its blocking fetch, and retries a down endpoint on every
unknown `kid`. Here keys outlive a failed fetch, fetches run in a thread one at a time, every
attempt (failed or not) starts the cooldown, and only lookups of an unknown `kid` wait.
"""

from __future__ import annotations

import asyncio
import logging
import time

from jwt import PyJWK, PyJWKClient, PyJWTError

log = logging.getLogger(__name__)

# A lookup of an unknown `kid` waits this long at most for the endpoint.
FETCH_TIMEOUT_S = 5.0


class JwksKeys:
    def __init__(self, url: str, *, max_age_s: float, cooldown_s: float) -> None:
        """`max_age_s`: how long a fetched set is used before it is fetched again (in the
        background); `cooldown_s`: the least time between two fetches."""
        # Some providers' CDNs refuse urllib's default User-Agent.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S,
                                   headers={"User-Agent": "storefront-cqrs"})
        self._max_age_s = max_age_s
        self._cooldown_s = cooldown_s
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetch: asyncio.Task[None] | None = None
        self.unreachable = False  # the last fetch failed

    @property
    def url(self) -> str:
        return self._client.uri

    async def find(self, kid: str) -> PyJWK | None:
        """The published key named `kid`, or None when it is not published (as far as the
        last successful fetch knows)."""
        key = self._keys.get(kid)
        if key is not None:
            if self._expired() and self._may_fetch():
                self._start_fetch()  # serve the cached key now; the new set comes in behind
            return key
        if self._fetch is not None or self._may_fetch():
            await asyncio.shield(self._start_fetch())
        return self._keys.get(kid)

    def _expired(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._max_age_s

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or time.monotonic() - self._attempted_at >= self._cooldown_s

    def _start_fetch(self) -> asyncio.Task[None]:
        if self._fetch is None:
            self._attempted_at = time.monotonic()
            self._fetch = asyncio.create_task(self._refresh(), name="jwks-fetch")
        return self._fetch

    async def _refresh(self) -> None:
        try:
            keys = await asyncio.to_thread(self._client.get_signing_keys)
        except (PyJWTError, OSError, ValueError) as error:  # ValueError: a body that is not JSON
            self.unreachable = True
            log.warning("JWKS fetch from %s failed, keeping the %d keys known: %s", self.url, len(self._keys), error)
        else:
            # The first of several keys with one kid wins, as in PyJWKClient.
            self._keys = {key.key_id: key for key in reversed(keys) if key.key_id}
            self._fetched_at = time.monotonic()
            self.unreachable = False
        finally:
            self._fetch = None
