"""Bearer tokens (HS256 JWT with `sub`, `roles` and `exp`) to principals, with PyJWT."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from schema.principal import ANONYMOUS, DEVELOPER, InvalidCredentials, Principal


class TokenAuthenticator:
    """Without a secret the server is in open development mode: everyone is an admin."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret

    def __call__(self, authorization: str | None) -> Principal:
        if self._secret is None:
            return DEVELOPER
        if authorization is None:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidCredentials("Send credentials as `Bearer <token>`.")
        try:
            claims = jwt.decode(token.strip(), self._secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as error:
            raise InvalidCredentials("The token has expired.") from error
        except jwt.InvalidTokenError as error:
            raise InvalidCredentials("The token is not valid.") from error
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise InvalidCredentials("The token's `roles` claim must be a list of strings.")
        return Principal(str(claims["sub"]), frozenset(roles), datetime.fromtimestamp(claims["exp"], UTC))
