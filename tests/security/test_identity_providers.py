"""Tokens from identity providers against a live server: a real JWKS endpoint on loopback
(RSA and EC keys), a PEM public key file, and the CLI refusing a bad key configuration."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from server.settings import Settings
from tests.identity_provider import AUDIENCE, ISSUER, JwksEndpoint, SigningKey, claims, hs256_with, unsigned
from tests.support import STOREFRONT, Secured, environment, running_server, wait_until

OK, UNAUTHENTICATED, FORBIDDEN = "ok", "UNAUTHENTICATED", "FORBIDDEN"
ADMIN_ONLY = "{ syncStatus { lag } }"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
def jwks(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[JwksEndpoint]:
    with JwksEndpoint([rsa_key, ec_key]) as endpoint:
        yield endpoint


@asynccontextmanager
async def _server(settings: Settings, **auth: Any) -> AsyncIterator[Secured]:
    async with running_server(settings.model_copy(update=auth)) as (url, _app), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield Secured(url, http)


async def _outcome(server: Secured, token: str) -> tuple[str, str]:
    """`ok`, or the error code and message of an admin-only query sent with `token`."""
    body = await server.call(f"Bearer {token}", ADMIN_ONLY)
    if not body.get("errors"):
        return OK, ""
    error = body["errors"][0]
    return error["extensions"]["code"], error["message"]


async def _check(server: Secured, cases: dict[str, tuple[str, str, str]]) -> None:
    """`cases`: name -> (token, expected code, a phrase the message must hold)."""
    outcomes = {name: await _outcome(server, token) for name, (token, _code, _phrase) in cases.items()}
    assert {name: code for name, (code, _) in outcomes.items()} == {name: code for name, (_, code, _) in cases.items()}
    unhelpful = {name: outcomes[name][1] for name, (_, _, phrase) in cases.items() if phrase not in outcomes[name][1]}
    assert not unhelpful


async def test_jwks_tokens_are_verified_with_the_published_keys(
        settings: Settings, jwks: JwksEndpoint, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    admin = claims("root", ["admin"])
    cases = {
        "RS256": (rsa_key.sign(admin), OK, ""),
        "ES256": (ec_key.sign(admin), OK, ""),
        "RS256 customer": (rsa_key.sign(claims("c-1", ["customer"])), FORBIDDEN, ""),
        "wrong aud": (rsa_key.sign({**admin, "aud": "billing"}), UNAUTHENTICATED, f"`aud` must include `{AUDIENCE}`"),
        "wrong iss": (rsa_key.sign({**admin, "iss": "https://evil.test"}), UNAUTHENTICATED, f"must be `{ISSUER}`"),
        "expired": (rsa_key.sign(claims("root", ["admin"], expires_in_s=-60)), UNAUTHENTICATED, "expired"),
        "unknown kid": (SigningKey.rsa("stranger").sign(admin), UNAUTHENTICATED, "`stranger` is unknown"),
        "wrong signature": (SigningKey.rsa("x").sign(admin, kid="rsa-1"), UNAUTHENTICATED, "signature"),
        "HS256 with the public key": (hs256_with(rsa_key.public_pem(), admin, kid="rsa-1"), UNAUTHENTICATED,
                                      "`HS256` are not accepted"),
        "alg none": (unsigned(admin, kid="rsa-1"), UNAUTHENTICATED, "`none` are not accepted"),
    }
    async with _server(settings, jwt_jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE) as server:
        await _check(server, cases)
    assert jwks.requests >= 1


async def test_rotated_keys_work_without_a_restart_and_cached_keys_outlive_the_endpoint(
        settings: Settings, jwks: JwksEndpoint, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    admin = claims("root", ["admin"])
    rotated = SigningKey.rsa("rsa-2")
    # Keys age at once, so every request past the first refetches them (behind the scenes).
    async with _server(settings, jwt_jwks_url=jwks.url, jwt_jwks_cache_s=0.001, jwt_jwks_cooldown_s=0) as server:
        assert await _outcome(server, rsa_key.sign(admin)) == (OK, "")
        jwks.publish([rsa_key, ec_key, rotated])
        assert await _outcome(server, rotated.sign(admin)) == (OK, "")
        jwks.publish([rotated])

        async def retired() -> bool:
            return (await _outcome(server, rsa_key.sign(admin)))[0] == UNAUTHENTICATED
        await wait_until(retired, 10, "the retired key rsa-1 to be refused")

        jwks.stop()
        assert [await _outcome(server, rotated.sign(admin)) for _ in range(3)] == [(OK, "")] * 3
        code, message = await _outcome(server, SigningKey.ec("new").sign(admin))
        assert (code, "could not be fetched" in message) == (UNAUTHENTICATED, True)


async def test_a_pem_public_key_with_a_nested_roles_claim(settings: Settings, tmp_path: Path,
                                                          rsa_key: SigningKey, ec_key: SigningKey) -> None:
    pem = tmp_path / "provider.pem"
    pem.write_bytes(rsa_key.public_pem())
    keycloak_admin = {**claims("root", []), "realm_access": {"roles": ["admin"]}}
    cases = {
        "realm_access.roles admin": (rsa_key.sign(keycloak_admin, kid=None), OK, ""),
        "top-level roles only": (rsa_key.sign(claims("root", ["admin"])), FORBIDDEN, ""),
        "HS256 with the public key": (hs256_with(rsa_key.public_pem(), keycloak_admin), UNAUTHENTICATED,
                                      "`HS256` are not accepted"),
        "ES256 for an RSA key": (ec_key.sign(keycloak_admin), UNAUTHENTICATED, "which takes RS256"),
        "another RSA key": (SigningKey.rsa("x").sign(keycloak_admin), UNAUTHENTICATED, "signature"),
        "roles not a list": (rsa_key.sign({**keycloak_admin, "realm_access": {"roles": "admin"}}), UNAUTHENTICATED,
                             "`realm_access.roles` claim must be a list of strings"),
    }
    async with _server(settings, jwt_public_key=pem, jwt_roles_claim="realm_access.roles") as server:
        await _check(server, cases)


async def _connection_init(url: str, token: str) -> str:
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        try:
            message: str = json.loads(await asyncio.wait_for(socket.recv(), 10))["type"]
            return message
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return f"closed {closed.rcvd.code}"


async def test_websocket_connection_init_takes_provider_tokens(
        settings: Settings, jwks: JwksEndpoint, ec_key: SigningKey) -> None:
    async with _server(settings, jwt_jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE) as server:
        url = server.url.replace("http://", "ws://") + "/graphql"
        outcomes = [await _connection_init(url, token) for token in (
            ec_key.sign(claims("c-1", ["customer"])), ec_key.sign({**claims("c-1", ["customer"]), "aud": "billing"}))]
    assert outcomes == ["connection_ack", "closed 4403"]


@pytest.mark.parametrize(("variable", "value", "phrase"), [
    ("STOREFRONT_JWT_PUBLIC_KEY", "/nonexistent/provider.pem", "cannot read /nonexistent/provider.pem"),
    ("STOREFRONT_JWT_JWKS_URL", "file:///etc/passwd", "URL scheme should be 'http' or 'https'"),
])
def test_a_bad_key_source_stops_serve_with_one_line(settings: Settings, variable: str, value: str,
                                                    phrase: str) -> None:
    result = subprocess.run([STOREFRONT, "serve", "--port", "1"], env=environment(settings, **{variable: value}),
                            capture_output=True, text=True, timeout=60, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and variable in lines[0] and phrase in lines[0]
