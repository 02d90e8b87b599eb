"""A request's credentials are checked once however many guarded resolvers ask, with the real
token authenticator; bad ones are checked, and refused, every time; an expired token is checked
again, and refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import jwt
import pytest

from schema.context import Context
from schema.principal import InvalidCredentials, Principal
from server.auth import ClaimRules, TokenAuthenticator
from tests.identity_provider import AUDIENCE, ISSUER, claims
from tests.support import wait_until

SECRET = "unit-secret-that-is-long-enough-for-hs256"
AUTHENTICATOR = TokenAuthenticator(secret=SECRET, rules=ClaimRules(issuer=ISSUER, audience=AUDIENCE))


def context_checking(authorization: str, checked: list[str | None]) -> Context:
    async def authenticate(credentials: str | None) -> Principal:
        checked.append(credentials)
        return await AUTHENTICATOR(credentials)

    unused = cast(Any, None)  # identify() touches none of the stores
    return Context(bus=unused, products=unused, customers=unused, orders=unused, history=unused,
                   indexed_position=unused, sync_state=unused, changes=unused, consistency_timeout_s=1.0,
                   max_page_size=10, authenticate=authenticate, authorization=authorization)


def bearer(expires_in_s: float) -> str:
    return "Bearer " + jwt.encode(claims("c-1", ["customer"], expires_in_s=expires_in_s), SECRET, algorithm="HS256")


def test_good_credentials_are_checked_once_per_context() -> None:
    checked: list[str | None] = []
    context = context_checking(bearer(600), checked)

    async def identify_three_times() -> list[Principal]:
        return [await context.identify() for _ in range(3)]

    principals = asyncio.run(identify_three_times())
    assert principals[0].customer_id == "c-1"
    assert principals[1] is principals[0] and principals[2] is principals[0]
    assert len(checked) == 1


def test_bad_credentials_are_refused_every_time() -> None:
    checked: list[str | None] = []
    context = context_checking("Bearer not-a-jwt", checked)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            asyncio.run(context.identify())
    assert checked == ["Bearer not-a-jwt"] * 2


def test_an_expired_token_is_checked_again_and_refused() -> None:
    checked: list[str | None] = []
    context = context_checking(bearer(2), checked)

    async def identify_until_past_expiry() -> None:
        principal = await context.identify()
        assert principal.expires_at is not None
        expires_at = principal.expires_at
        await wait_until(lambda: datetime.now(UTC) >= expires_at, 5, "the token to expire")
        with pytest.raises(InvalidCredentials, match="expired"):
            await context.identify()

    asyncio.run(identify_until_past_expiry())
    assert len(checked) == 2
