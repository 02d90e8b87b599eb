"""A server with authentication on (tokens for it: tests.support.token)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from server.settings import Settings
from tests.support import SECRET, Secured, running_server


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[Secured]:
    with_auth = settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    async with running_server(with_auth) as (url, _app), httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield Secured(url, http)
