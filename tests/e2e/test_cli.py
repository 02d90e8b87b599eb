"""The `storefront` command as an operator runs it: real processes, real stores."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

from read_model.products import ProductStore
from server.bootstrap import Container
from server.settings import Settings
from write_model.commands import CreateProduct
from tests.support import STOREFRONT, environment
from write_model.results import Accepted




def _storefront(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_help_lists_every_command(settings: Settings) -> None:
    result = _storefront("--help", env=environment(settings))
    assert result.returncode == 0
    for command in ("serve", "sync", "migrate", "elasticsearch"):
        assert command in result.stdout


def test_migrate_creates_the_write_model(settings: Settings, tmp_path: Path) -> None:
    result = _storefront("migrate", env=environment(settings))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "write.db") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert {"products", "outbox", "outbox_head", "idempotency_keys", "consumer_checkpoints"} <= tables


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0]


def test_invalid_settings_are_named_in_one_line(settings: Settings) -> None:
    result = _storefront("migrate", env=environment(settings, STOREFRONT_CONSISTENCY_TIMEOUT_MS="-5"))
    _assert_one_line_error(result, "STOREFRONT_CONSISTENCY_TIMEOUT_MS")


def test_an_unreachable_database_is_one_line(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'write.db'}"
    result = _storefront("migrate", env=environment(settings, STOREFRONT_DATABASE_URL=url))
    _assert_one_line_error(result, "unable to open database file", "STOREFRONT_DATABASE_URL")


def test_open_mode_refuses_a_public_address(settings: Settings) -> None:
    result = _storefront("serve", "--host", "0.0.0.0", env=environment(settings))
    _assert_one_line_error(result, "refusing to bind 0.0.0.0", "STOREFRONT_JWT_SECRET")


def test_status_of_a_node_that_is_not_there(settings: Settings) -> None:
    result = _storefront("elasticsearch", "status", "--port", "9", env=environment(settings))
    assert (result.returncode, result.stdout.strip()) == (1, "not running")


async def test_sync_alone_indexes_what_another_process_commits_and_stops_on_sigterm(
    container: Container, settings: Settings
) -> None:
    """`storefront sync` as its own process; this test process plays an API without a worker,
    so its consistent reads follow the worker's durable checkpoint."""
    worker = await asyncio.create_subprocess_exec(
        STOREFRONT, "sync", env=environment(settings, STOREFRONT_SYNC_POLL_INTERVAL_MS="50"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        result = await container.bus.dispatch(CreateProduct(sku="ALONE-1", name="Solo", category="c", price=Decimal(2)))
        assert isinstance(result, Accepted)
        assert await container.positions.wait_for(result.position, timeout_s=60)
        document = await ProductStore(container.elasticsearch, settings.index_prefix).get(result.id)
        assert document is not None and document["sku"] == "ALONE-1"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 15)
    assert worker.returncode == 0, stderr.decode()
