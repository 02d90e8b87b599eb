"""A server with authentication on, and tokens for every kind of caller."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from server.settings import Settings
from tests.conftest import Api, running_server

SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(subject: str, roles: list[str], *, expires_in_s: float = 600, secret: str = SECRET) -> str:
    claims = {"sub": subject, "roles": roles, "exp": int(time.time() + expires_in_s)}
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Secured:
    url: str
    http: httpx.AsyncClient

    async def call(self, authorization: str | None, query: str, variables: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        headers = {"authorization": authorization} if authorization else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def as_admin(self) -> Api:
        return Api(httpx.AsyncClient(base_url=self.url, timeout=60,
                                     headers={"authorization": f"Bearer {token('root', ['admin'])}"}))


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[Secured]:
    with_auth = settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    async with running_server(with_auth) as (url, _app), httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield Secured(url, http)
