"""The token authenticator with real keys: key sources, algorithms, claims and the JWKS cache
(the cache against a real JWKS endpoint on loopback)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from jwt.utils import base64url_encode
from pydantic import SecretStr, ValidationError

from schema.principal import ANONYMOUS, DEVELOPER, InvalidCredentials, Principal
from server.auth import ClaimRules, InvalidKeyFile, TokenAuthenticator, algorithms_for, load_public_key
from server.jwks import JwksKeys
from server.settings import Settings
from tests.identity_provider import AUDIENCE, ISSUER, JwksEndpoint, SigningKey, claims, hs256_with, unsigned
from tests.support import wait_until

SECRET = "unit-secret-that-is-long-enough-for-hs256"
RULES = ClaimRules(issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


def _pem_authenticator(key: SigningKey, rules: ClaimRules = RULES, secret: str | None = None) -> TokenAuthenticator:
    return TokenAuthenticator(secret=secret, public_key=key.private_key.public_key(), rules=rules)


async def _refusal(authenticate: TokenAuthenticator, token: str) -> str:
    with pytest.raises(InvalidCredentials) as refused:
        await authenticate(f"Bearer {token}")
    return str(refused.value)


async def test_open_mode_makes_everyone_an_admin() -> None:
    assert await TokenAuthenticator()(None) == DEVELOPER
    assert await TokenAuthenticator()("Bearer anything") == DEVELOPER


async def test_no_credentials_is_anonymous_and_a_bad_scheme_is_refused(rsa_key: SigningKey) -> None:
    authenticate = _pem_authenticator(rsa_key)
    assert await authenticate(None) == ANONYMOUS
    with pytest.raises(InvalidCredentials, match="Bearer"):
        await authenticate("Basic dXNlcjpwYXNz")
    assert "not a JWT" in await _refusal(authenticate, "not.a.jwt")


@pytest.mark.parametrize(("header", "phrase"), [
    ({"alg": ["RS256"]}, "names no algorithm"),
    ({"typ": "JWT"}, "names no algorithm"),
    ({"alg": "RS256", "kid": ["rsa-1"]}, "must be a string"),
    ({"alg": "RS256", "crit": ["exp"]}, "critical extension"),
])
async def test_malformed_headers_are_refused(rsa_key: SigningKey, header: dict[str, Any], phrase: str) -> None:
    token = b".".join(base64url_encode(json.dumps(part).encode()) for part in (header, claims("c-1", []))) + b"."
    assert phrase in await _refusal(_pem_authenticator(rsa_key, secret=SECRET), token.decode())


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
async def test_a_pem_key_accepts_its_own_tokens(key_name: str, request: pytest.FixtureRequest) -> None:
    key: SigningKey = request.getfixturevalue(key_name)
    payload = claims("c-1", ["customer"])
    principal = await _pem_authenticator(key)(f"Bearer {key.sign(payload)}")
    assert principal == Principal("c-1", frozenset({"customer"}), datetime.fromtimestamp(payload["exp"], UTC))


async def test_a_pem_key_refuses_tokens_of_another_key_or_algorithm(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    authenticate = _pem_authenticator(rsa_key)
    assert "signature" in await _refusal(authenticate, SigningKey.rsa("other").sign(claims("c-1", [])))
    assert "does not fit its key, which takes RS256" in await _refusal(authenticate, ec_key.sign(claims("c-1", [])))
    # ES384 fits EC keys, but not a P-256 one: the curve decides.
    es384 = jwt.encode(claims("c-1", []), ec.generate_private_key(ec.SECP384R1()), algorithm="ES384")
    assert "which takes ES256." in await _refusal(_pem_authenticator(ec_key), es384)


async def test_an_hs256_token_signed_with_the_public_key_is_refused(rsa_key: SigningKey) -> None:
    """The classic algorithm confusion: the public key is no HMAC secret, with or without a secret set."""
    forged = hs256_with(rsa_key.public_pem(), claims("root", ["admin"]))
    assert "HS256" in await _refusal(_pem_authenticator(rsa_key), forged)
    assert "signature" in await _refusal(_pem_authenticator(rsa_key, secret=SECRET), forged)


async def test_unsigned_tokens_are_refused(rsa_key: SigningKey) -> None:
    assert "`none` are not accepted" in await _refusal(_pem_authenticator(rsa_key, secret=SECRET),
                                                       unsigned(claims("root", ["admin"])))


async def test_the_secret_and_a_public_key_work_side_by_side(rsa_key: SigningKey) -> None:
    authenticate = _pem_authenticator(rsa_key, ClaimRules(), secret=SECRET)
    by_secret = jwt.encode(claims("a", ["admin"]), SECRET, algorithm="HS256")
    assert (await authenticate(f"Bearer {by_secret}")).is_admin
    assert (await authenticate(f"Bearer {rsa_key.sign(claims('b', ['admin']))}")).is_admin


@pytest.mark.parametrize(("change", "phrase"), [
    ({"iss": "https://evil.example.test"}, f"issuer (`iss`) must be `{ISSUER}`"),
    ({"aud": "another-service"}, f"`aud` must include `{AUDIENCE}`"),
    ({"exp": int(time.time()) - 60}, "expired"),
    ({"nbf": int(time.time()) + 3600}, "not valid yet"),
    ({"exp": 10 ** 15}, "`exp` is out of range"),
    ({"roles": "admin"}, "`roles` claim must be a list of strings"),
])
async def test_claims_are_checked(rsa_key: SigningKey, change: dict[str, Any], phrase: str) -> None:
    assert phrase in await _refusal(_pem_authenticator(rsa_key), rsa_key.sign({**claims("c-1", []), **change}))


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "exp"])
async def test_required_claims_must_be_there(rsa_key: SigningKey, claim: str) -> None:
    payload = claims("c-1", [])
    del payload[claim]
    assert f"no `{claim}` claim" in await _refusal(_pem_authenticator(rsa_key), rsa_key.sign(payload))


async def test_issuer_and_audience_are_only_checked_when_configured(rsa_key: SigningKey) -> None:
    token = rsa_key.sign(claims("c-1", [], iss="anyone", aud="anything"))
    assert (await _pem_authenticator(rsa_key, ClaimRules())(f"Bearer {token}")).subject == "c-1"


@pytest.mark.parametrize(("roles_claim", "extra", "roles"), [
    ("realm_access.roles", {"realm_access": {"roles": ["admin", "offline_access"]}}, {"admin", "offline_access"}),
    ("https://shop.example.test/roles", {"https://shop.example.test/roles": ["customer"]}, {"customer"}),
    ("realm_access.roles", {"realm_access": "flat"}, set()),
    ("groups", {}, set()),
])
async def test_the_roles_claim_is_configurable(rsa_key: SigningKey, roles_claim: str, extra: dict[str, Any],
                                               roles: set[str]) -> None:
    payload = {**claims("c-1", ["ignored"]), **extra}
    del payload["roles"]
    authenticate = _pem_authenticator(rsa_key, ClaimRules(roles_claim=roles_claim))
    assert (await authenticate(f"Bearer {rsa_key.sign(payload)}")).roles == roles


def test_algorithms_fit_the_key_type(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    assert algorithms_for(rsa_key.private_key.public_key())[0] == "RS256"
    assert algorithms_for(ec_key.private_key.public_key()) == ["ES256"]
    assert algorithms_for(ec.generate_private_key(ec.SECP384R1()).public_key()) == ["ES384"]
    assert algorithms_for(ed25519.Ed25519PrivateKey.generate().public_key()) == ["EdDSA"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_key_files_that_hold_no_usable_public_key_are_refused(tmp_path: Path, rsa_key: SigningKey) -> None:
    private = rsa_key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    x25519_public = x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    cases = {
        tmp_path / "missing.pem": "cannot read",
        tmp_path: "cannot read",
        _write(tmp_path / "private.pem", private): "holds no PEM public key",
        _write(tmp_path / "junk.pem", b"hello"): "holds no PEM public key",
        _write(tmp_path / "x25519.pem", x25519_public): "unsupported type",
    }
    for path, phrase in cases.items():
        with pytest.raises(InvalidKeyFile, match=phrase):
            load_public_key(path)


def test_settings_name_a_bad_key_file_or_jwks_url(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as bad_key:
        Settings(jwt_public_key=tmp_path / "missing.pem")
    [error] = bad_key.value.errors()
    assert error["loc"] == ("jwt_public_key",) and "cannot read" in error["msg"]
    with pytest.raises(ValidationError) as bad_url:
        Settings(jwt_jwks_url="file:///etc/passwd")
    assert [e["loc"] for e in bad_url.value.errors()] == [("jwt_jwks_url",)]


def test_any_key_source_turns_auth_on(tmp_path: Path, rsa_key: SigningKey) -> None:
    pem = _write(tmp_path / "key.pem", rsa_key.public_pem())
    assert not Settings().auth_enabled
    assert Settings(jwt_secret=SecretStr(SECRET)).auth_enabled
    assert Settings(jwt_jwks_url="https://id.example.test/jwks").auth_enabled
    assert Settings(jwt_public_key=pem).auth_enabled


# ---------------------------------------------------------------- the JWKS cache, on a real endpoint


@pytest.fixture
def endpoint(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[JwksEndpoint]:
    with JwksEndpoint([rsa_key, ec_key]) as served:
        yield served


async def test_keys_are_fetched_once_and_served_from_the_cache(endpoint: JwksEndpoint) -> None:
    keys = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0)
    found = [await keys.find(kid) for kid in ("rsa-1", "ec-1", "rsa-1")]
    assert [key.algorithm_name if key else None for key in found] == ["RS256", "ES256", "RS256"]
    assert endpoint.requests == 1


async def test_an_unknown_kid_refetches_but_the_cooldown_bounds_refetches(endpoint: JwksEndpoint,
                                                                         rsa_key: SigningKey) -> None:
    rotated = SigningKey.rsa("rsa-2")
    eager = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0)
    patient = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=300)
    assert await eager.find("rsa-1") and await patient.find("rsa-1")
    endpoint.publish([rsa_key, rotated])
    assert await eager.find("rsa-2") is not None
    requests = endpoint.requests
    assert [await patient.find(f"random-{n}") for n in range(20)] == [None] * 20
    assert await patient.find("rsa-2") is None  # within the cooldown: not fetched yet
    assert endpoint.requests == requests


async def test_concurrent_lookups_of_an_unknown_kid_share_one_fetch(endpoint: JwksEndpoint) -> None:
    keys = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0)
    found = await asyncio.gather(*(keys.find("ec-1") for _ in range(20)))
    assert all(key is not None for key in found) and endpoint.requests == 1


async def test_a_fetch_blocks_neither_the_event_loop_nor_lookups_of_cached_keys(endpoint: JwksEndpoint) -> None:
    keys = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0)
    assert await keys.find("rsa-1") is not None
    endpoint.hold()
    waiting = asyncio.create_task(keys.find("rsa-2"))
    await wait_until(lambda: endpoint.requests == 2, 10, "the second fetch to reach the endpoint")
    assert await asyncio.wait_for(keys.find("ec-1"), 1) is not None
    assert not waiting.done()
    endpoint.release()
    assert await waiting is None


async def test_a_down_endpoint_keeps_the_cached_keys_past_their_age(endpoint: JwksEndpoint) -> None:
    keys = JwksKeys(endpoint.url, max_age_s=0.001, cooldown_s=0)
    assert await keys.find("rsa-1") is not None
    endpoint.stop()
    assert await keys.find("rsa-1") is not None  # expired: served, and refetched behind
    await wait_until(lambda: keys.unreachable, 10, "the background refetch to fail")
    assert await keys.find("rsa-1") is not None
    assert await keys.find("unknown") is None and keys.unreachable


async def test_a_broken_answer_keeps_the_cached_keys(endpoint: JwksEndpoint) -> None:
    keys = JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0)
    assert await keys.find("rsa-1") is not None
    for body in (b"<html>oops</html>", b"[]", b'{"keys": []}'):
        endpoint.serve_raw(body)
        assert await keys.find("other") is None and keys.unreachable
        assert await keys.find("rsa-1") is not None


async def test_an_endpoint_never_reached_refuses_with_a_reason(endpoint: JwksEndpoint, rsa_key: SigningKey) -> None:
    url = endpoint.url
    endpoint.stop()
    authenticate = TokenAuthenticator(jwks=JwksKeys(url, max_age_s=300, cooldown_s=0), rules=RULES)
    assert "could not be fetched" in await _refusal(authenticate, rsa_key.sign(claims("c-1", [])))


async def test_published_keys_verify_tokens_by_kid(endpoint: JwksEndpoint, rsa_key: SigningKey,
                                                   ec_key: SigningKey) -> None:
    authenticate = TokenAuthenticator(jwks=JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0), rules=RULES)
    for key in (rsa_key, ec_key):
        assert (await authenticate(f"Bearer {key.sign(claims('root', ['admin']))}")).is_admin
    refusals: dict[str, Callable[[], Awaitable[str]]] = {
        "does not publish it": lambda: _refusal(authenticate, SigningKey.ec("stranger").sign(claims("c-1", []))),
        "signature": lambda: _refusal(authenticate, SigningKey.rsa("x").sign(claims("c-1", []), kid="rsa-1")),
        "no `kid`": lambda: _refusal(authenticate, rsa_key.sign(claims("c-1", []), kid=None)),
        "does not fit": lambda: _refusal(authenticate, ec_key.sign(claims("c-1", []), kid="rsa-1")),
        "`HS256` are not accepted": lambda: _refusal(
            authenticate, hs256_with(rsa_key.public_pem(), claims("c-1", []), kid="rsa-1")),
    }
    for phrase, refusal in refusals.items():
        assert phrase in await refusal()


async def test_a_symmetric_key_in_the_jwks_is_never_used(endpoint: JwksEndpoint) -> None:
    """A JWKS is public: an `oct` key in it would let anyone sign tokens."""
    endpoint.serve_raw(b'{"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}')
    authenticate = TokenAuthenticator(jwks=JwksKeys(endpoint.url, max_age_s=300, cooldown_s=0), rules=RULES)
    forged = hs256_with(b"secret-secret-secret", claims("root", ["admin"]), kid="shared")
    assert "`HS256` are not accepted" in await _refusal(authenticate, forged)
    signed_elsewhere = SigningKey.rsa("x").sign(claims("root", ["admin"]), kid="shared")
    assert "`shared` is not a public key" in await _refusal(authenticate, signed_elsewhere)
