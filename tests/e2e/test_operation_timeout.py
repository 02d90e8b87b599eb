"""`STOREFRONT_OPERATION_TIMEOUT_S` bounds each HTTP operation."""

from __future__ import annotations

import time

import httpx

from server.settings import Settings
from tests.support import running_server

# A read that waits for a position no write reached: only the operation timeout can end it early.
UNREACHED = '{ products(consistentWith: "1000000") { totalCount } }'


async def test_an_operation_past_its_timeout_is_service_unavailable_not_too_complex(settings: Settings) -> None:
    bounded = settings.model_copy(update={"operation_timeout_s": 0.5, "consistency_timeout_ms": 120_000})
    async with (running_server(bounded, run_worker=False) as (url, _app),
                httpx.AsyncClient(base_url=url, timeout=60) as client):
        started = time.monotonic()
        response = await client.post("/graphql", json={"query": UNREACHED})
        elapsed_s = time.monotonic() - started
    body = response.json()
    assert (response.status_code, body["data"]) == (200, None), body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}, error
    assert "did not finish within 0.5s" in error["message"], error
    # The consistency wait would have lasted 120 s: the answer came from the operation's bound.
    assert elapsed_s < 30, elapsed_s
