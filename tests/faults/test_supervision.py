"""Background tasks under supervision: the change feed fails for real (the table it follows the
indexed position in is missing from the SQLite file), shows as down, tells subscribers, and
recovers on its own once the table is back."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.operations import CREATE_PRODUCT
from tests.e2e.test_subscriptions import PRODUCT_CHANGED, RawSocket
from tests.support import Api, drain, running_server, until_subscriptions_open, wait_until

CHECKPOINTS = "consumer_checkpoints"
AWAY = "consumer_checkpoints_away"
FEED = "change-feed"
# How SQLite and PostgreSQL say so.
MISSING_TABLE = r'no such table: consumer_checkpoints|relation "consumer_checkpoints" does not exist'
# The feed's `unavailable_after_s` (5 s) plus room for a loaded machine.
ERROR_BOUND_S = 15.0


async def _rename_table(container: Container, old: str, new: str) -> None:
    async with container.database.writer.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def _feed_metrics(http: httpx.AsyncClient) -> tuple[float, float]:
    """The change feed's up gauge and restarts counter."""
    samples = {(sample.name, sample.labels.get("task")): sample.value
               for family in text_string_to_metric_families((await http.get("/metrics")).text)
               for sample in family.samples}
    return samples[("storefront_background_task_up", FEED)], samples[("storefront_background_task_restarts_total",
                                                                       FEED)]


async def _feed_reported_down(http: httpx.AsyncClient) -> list[str] | None:
    ready = await http.get("/readyz")
    reasons: list[str] = ready.json().get("reasons", [])
    down = [reason for reason in reasons if reason.startswith(f"{FEED}: down")]
    return down if ready.status_code == 503 and down else None


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def _feed_metrics_down(http: httpx.AsyncClient) -> tuple[float, float] | None:
    up, restarts = await _feed_metrics(http)
    return (up, restarts) if up == 0 and restarts >= 1 else None


def _codes(message: dict[str, Any]) -> list[str]:
    assert message["type"] == "next", message
    return [error["extensions"]["code"] for error in message["payload"]["errors"]]


async def test_a_feed_whose_first_read_fails_recovers_and_notifies(settings: Settings, container: Container) -> None:
    await _rename_table(container, CHECKPOINTS, AWAY)  # the database is migrated; the feed's first read fails
    async with running_server(settings, run_worker=False) as (url, app):
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            [reason] = await wait_until(lambda: _feed_reported_down(http), 30, "readiness naming the feed")
            assert re.search(MISSING_TABLE, reason) and "SELECT" not in reason, reason
            await wait_until(lambda: _feed_metrics_down(http), 30, "the feed's gauge at 0 and a restart counted")

            socket = await RawSocket.open(ws_url)
            try:
                asked = time.monotonic()
                await socket.subscribe("1", PRODUCT_CHANGED)
                refused = await socket.receive(timeout_s=ERROR_BOUND_S)
                assert time.monotonic() - asked < ERROR_BOUND_S
            finally:
                await socket.close()
            assert _codes(refused) == ["SERVICE_UNAVAILABLE"]
            assert "subscribe again" in refused["payload"]["errors"][0]["message"]

            await _rename_table(container, AWAY, CHECKPOINTS)
            await wait_until(lambda: _ready(http), 30, "readiness once the table is back")
            assert (await _feed_metrics(http))[0] == 1

            socket = await RawSocket.open(ws_url)
            try:
                await socket.subscribe("1", PRODUCT_CHANGED)
                await until_subscriptions_open(app.state.container, 1)
                created = (await Api(http)(CREATE_PRODUCT, {"input": {"sku": "SUP-1", "name": "Back", "category": "c",
                                                                      "price": "1.00"}}))["createProduct"]
                await drain(container)  # a worker in another "process" moves the checkpoint the feed follows
                change = (await socket.receive())["payload"]["data"]["productChanged"]
            finally:
                await socket.close()
    assert (change["productId"], change["event"], change["position"]) == (
        created["id"], "ProductCreated", created["position"])


async def test_subscribers_are_told_when_the_feed_stays_down(settings: Settings, container: Container) -> None:
    async with (running_server(settings, run_worker=False) as (url, app),
                httpx.AsyncClient(base_url=url, timeout=30) as http):
        socket = await RawSocket.open(url.replace("http://", "ws://") + "/graphql")
        try:
            await socket.subscribe("1", PRODUCT_CHANGED)
            feed = app.state.container.changes
            await until_subscriptions_open(app.state.container, 1)
            await _rename_table(container, CHECKPOINTS, AWAY)
            failed_at = time.monotonic()
            cut_off = await socket.receive(timeout_s=ERROR_BOUND_S)
            assert time.monotonic() - failed_at < ERROR_BOUND_S
            await wait_until(lambda: _feed_reported_down(http), 30, "readiness naming the feed")
        finally:
            await socket.close()
            await _rename_table(container, AWAY, CHECKPOINTS)
        await wait_until(lambda: _ready(http), 30, "readiness once the table is back")
    assert _codes(cut_off) == ["SERVICE_UNAVAILABLE"]
    assert feed.open_subscriptions == 0
