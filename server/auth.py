"""Bearer tokens (JWT with `sub`, roles and `exp`) to principals, with PyJWT.

A token is checked with one of the configured key sources, chosen by its header: HS256 with
the shared secret; an asymmetric algorithm with a `kid` against the identity provider's JWKS;
otherwise the PEM public key. Each key accepts only the algorithms of its own type, so a
public key can never serve as an HMAC secret, and `none` is never accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import AllowedPublicKeys

from schema.principal import ANONYMOUS, DEVELOPER, InvalidCredentials, Principal
from server.jwks import JwksKeys

HMAC = "HS256"
RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512", "secp256k1": "ES256K"}
ASYMMETRIC = frozenset([*RSA_ALGORITHMS, *EC_ALGORITHMS.values(), "EdDSA"])

Key = AllowedPublicKeys | str


class InvalidKeyFile(ValueError):
    """STOREFRONT_JWT_PUBLIC_KEY names no readable PEM public key of a supported type."""


def load_public_key(path: Path) -> AllowedPublicKeys:
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise InvalidKeyFile(f"cannot read {path}: {error.strerror}") from None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidKeyFile(f"{path} holds no PEM public key (`-----BEGIN PUBLIC KEY-----`)") from None
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) or (
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in EC_ALGORITHMS):
        return key
    raise InvalidKeyFile(f"{path} holds a key of an unsupported type; use an RSA, EC (P-256, P-384, P-521) "
                         "or Ed25519 public key")


def algorithms_for(key: AllowedPublicKeys) -> list[str]:
    """The signature algorithms that fit a public key's type (and curve)."""
    if isinstance(key, rsa.RSAPublicKey):
        return list(RSA_ALGORITHMS)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return [EC_ALGORITHMS[key.curve.name]]
    return ["EdDSA"]


@dataclass(frozen=True)
class ClaimRules:
    """What a verified token's claims must hold. `roles_claim` is a claim name or, when no
    claim has that name, a dotted path into nested objects (Keycloak: `realm_access.roles`)."""

    issuer: str | None = None
    audience: str | None = None
    roles_claim: str = "roles"


class TokenAuthenticator:
    """Without any key source the server is in open development mode: everyone is an admin."""

    def __init__(self, *, secret: str | None = None, public_key: AllowedPublicKeys | None = None,
                 jwks: JwksKeys | None = None, rules: ClaimRules = ClaimRules()) -> None:
        self._secret = secret
        self._public_key = public_key
        self._jwks = jwks
        self._rules = rules

    @property
    def is_open(self) -> bool:
        return self._secret is None and self._public_key is None and self._jwks is None

    async def __call__(self, authorization: str | None) -> Principal:
        if self.is_open:
            return DEVELOPER
        if authorization is None:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidCredentials("Send credentials as `Bearer <token>`.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise InvalidCredentials(f"The token is not a JWT: {error}.") from error
        key, algorithms = await self._key_for(header)
        return principal_from(decode(token, key, algorithms, self._rules), self._rules.roles_claim)

    async def _key_for(self, header: dict[str, Any]) -> tuple[Key, list[str]]:
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str):
            raise InvalidCredentials("The token's header names no algorithm (`alg`).")
        if algorithm == HMAC and self._secret is not None:
            return self._secret, [HMAC]
        if algorithm in ASYMMETRIC:
            if self._jwks is not None and (isinstance(kid, str) or self._public_key is None):
                return await _published_key(self._jwks, kid)
            if self._public_key is not None:
                return self._public_key, algorithms_for(self._public_key)
        raise InvalidCredentials(f"Tokens signed with `{algorithm}` are not accepted here; "
                                 f"this server accepts {self._accepted()}.")

    def _accepted(self) -> str:
        kinds = [f"{HMAC} (shared secret)"] if self._secret is not None else []
        if self._jwks is not None:
            kinds.append("keys of the identity provider, named by `kid`")
        if self._public_key is not None:
            kinds.append(", ".join(algorithms_for(self._public_key)) + " (public key)")
        return "; ".join(kinds)


async def _published_key(jwks: JwksKeys, kid: object) -> tuple[Key, list[str]]:
    if not isinstance(kid, str):
        raise InvalidCredentials("The token has no `kid` header naming its signing key.")
    key = await jwks.find(kid)
    if key is None:
        reason = ("the identity provider's keys could not be fetched" if jwks.unreachable
                  else "the identity provider does not publish it")
        raise InvalidCredentials(f"The token's signing key `{kid}` is unknown: {reason}.")
    if key.algorithm_name not in ASYMMETRIC:
        raise InvalidCredentials(f"The published key `{kid}` is not a public key; it cannot verify tokens.")
    return key.key, [key.algorithm_name]


def decode(token: str, key: Key, algorithms: list[str], rules: ClaimRules) -> dict[str, Any]:
    """Verified claims, or InvalidCredentials saying what is wrong with the token."""
    required = ["exp", "sub", *(["iss"] if rules.issuer else []), *(["aud"] if rules.audience else [])]
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms, audience=rules.audience, issuer=rules.issuer,
            # Providers put an `aud` in their tokens; it is only checked when one is configured.
            options={"require": required, "verify_aud": rules.audience is not None})
    except jwt.InvalidTokenError as error:
        raise InvalidCredentials(_explain(error, rules, algorithms)) from error
    return claims


def _explain(error: jwt.InvalidTokenError, rules: ClaimRules, algorithms: list[str]) -> str:
    match error:
        case jwt.ExpiredSignatureError():
            return "The token has expired."
        case jwt.MissingRequiredClaimError():
            return f"The token has no `{error.claim}` claim."
        case jwt.InvalidAudienceError():
            return f"The token is not meant for this server: its `aud` must include `{rules.audience}`."
        case jwt.InvalidIssuerError():
            return f"The token's issuer (`iss`) must be `{rules.issuer}`."
        case jwt.InvalidSignatureError():
            return "The token's signature does not verify with its key."
        case jwt.InvalidAlgorithmError():
            return f"The token's algorithm does not fit its key, which takes {', '.join(algorithms)}."
        case jwt.ImmatureSignatureError():
            return "The token is not valid yet."
    return f"The token is not valid: {error}."


def principal_from(claims: dict[str, Any], roles_claim: str) -> Principal:
    roles = _claim(claims, roles_claim)
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidCredentials(f"The token's `{roles_claim}` claim must be a list of strings.")
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise InvalidCredentials("The token's `exp` is out of range.") from error
    return Principal(str(claims["sub"]), frozenset(roles), expires_at)


def _claim(claims: dict[str, Any], name: str) -> object:
    """The claim called `name`, else the value at the dotted path `name`; None when absent."""
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
