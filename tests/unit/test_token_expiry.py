"""A WebSocket is closed when its token expires, and a connection that ended first leaves nothing behind."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from starlette.websockets import WebSocketDisconnect

from server.graphql_view import _close_quietly, _close_when_expired
from tests.support import wait_until


async def test_a_connection_is_closed_with_4401_when_its_token_expires() -> None:
    closed: list[tuple[int, str]] = []

    async def close(code: int, reason: str) -> None:
        closed.append((code, reason))

    _close_when_expired(close, datetime.now(UTC) + timedelta(seconds=0.05))
    await wait_until(lambda: closed, 5, "the expiry to close the connection")
    assert closed == [(4401, "token expired")]


async def test_the_expiry_timer_does_not_keep_a_connection_that_ended() -> None:
    async def close(_code: int, _reason: str) -> None:
        pytest.fail("closed a connection that had ended")

    _close_when_expired(close, datetime.now(UTC) + timedelta(seconds=600))
    connection = weakref.ref(close)
    del close
    gc.collect()
    assert connection() is None


@pytest.mark.parametrize("gone", [RuntimeError("already closed"), WebSocketDisconnect(code=1006)],
                         ids=["closed", "peer gone"])
async def test_closing_a_connection_that_is_gone_raises_nothing(gone: Exception) -> None:
    async def close(_code: int, _reason: str) -> None:
        raise gone

    await _close_quietly(close, 4401, "token expired")
