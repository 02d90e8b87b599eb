"""The `storefront` command as an operator runs it: real processes, real stores."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.core import TyperGroup

from read_model.products import ProductStore
from server.bootstrap import Container
from server.cli import app as cli_app
from server.settings import Settings
from tests.support import STOREFRONT, environment, unused_port
from write_model.commands import CreateProduct
from write_model.results import Accepted

# Each log record is one line: timestamp, level, logger, message (server/logs.py).
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ ")


def _storefront(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def _storefront_each(commands: list[tuple[str, ...]], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """The commands side by side (each spends seconds importing), results in their order."""
    processes = [subprocess.Popen([STOREFRONT, *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for command in commands]
    results = []
    for command, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess([STOREFRONT, *command], process.returncode, stdout, stderr))
    return results


def _command_paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _command_paths(sub, (*path, name))


def test_help_lists_every_command(settings: Settings) -> None:
    result = _storefront("--help", env=environment(settings))
    assert result.returncode == 0
    for command in ("serve", "sync", "migrate", "elasticsearch"):
        assert command in result.stdout


def test_every_help_shows_flags_without_a_value(settings: Settings) -> None:
    """typer's rich help printed `<bool>` beside each flag, as if it took a value."""
    paths = list(_command_paths(typer.main.get_command(cli_app)))
    assert ("serve",) in paths and ("dead-letters", "retry") in paths
    results = _storefront_each([(*path, "--help") for path in paths], environment(settings))
    helps = dict(zip(paths, results, strict=True))
    for path, result in helps.items():
        assert result.returncode == 0, (path, result.stderr)
        assert "<bool>" not in result.stdout, (path, result.stdout)
        assert re.search(r"^\s+--help\s+Show this message and exit\.$", result.stdout, re.MULTILINE), path
    serve = helps[("serve",)].stdout
    assert re.search(r"^\s+--no-sync\s+Do not run", serve, re.MULTILINE), serve
    assert re.search(r"^\s+--port PORT\s+Port to bind", serve, re.MULTILINE), serve


async def test_migrate_creates_the_write_model(settings: Settings, empty_database_url: str) -> None:
    result = await asyncio.to_thread(_storefront, "migrate",
                                     env=environment(settings, STOREFRONT_DATABASE_URL=empty_database_url))
    assert result.returncode == 0, result.stderr
    engine = create_async_engine(empty_database_url)
    async with engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    await engine.dispose()
    assert {"products", "outbox", "outbox_head", "idempotency_keys", "consumer_checkpoints"} <= tables


@pytest.mark.sqlite_only  # WAL is SQLite's own
def test_migrate_puts_the_sqlite_file_in_wal_mode(settings: Settings, tmp_path: Path) -> None:
    result = _storefront("migrate", env=environment(settings))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "write.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *parts: str, absent: tuple[str, ...] = (),
                           status: int = 1) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0]
    for part in absent:
        assert part not in lines[0]
    assert result.returncode == status, result.stderr


def test_an_invalid_setting_is_named_in_one_line(settings: Settings) -> None:
    result = _storefront("migrate", env=environment(settings, STOREFRONT_CONSISTENCY_TIMEOUT_MS="-5"))
    _assert_one_line_error(result, "STOREFRONT_CONSISTENCY_TIMEOUT_MS", "greater than or equal to 0")


def test_each_invalid_setting_gets_a_line_of_its_own(settings: Settings) -> None:
    result = _storefront("migrate", env=environment(settings, STOREFRONT_CONSISTENCY_TIMEOUT_MS="-5",
                                                    STOREFRONT_CURRENCY="dollars"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "STOREFRONT_CONSISTENCY_TIMEOUT_MS", "STOREFRONT_CURRENCY"], result.stderr


def test_a_malformed_elasticsearch_url_is_one_line(settings: Settings) -> None:
    commands = [("reindex",), ("serve", "--port", str(unused_port())), ("sync",)]
    for result in _storefront_each(commands, environment(settings, STOREFRONT_ELASTICSEARCH_URL="notaurl")):
        _assert_one_line_error(result, "STOREFRONT_ELASTICSEARCH_URL", "'scheme'", absent=("STOREFRONT_DATABASE_URL",))


def test_an_unreachable_elasticsearch_is_one_line_naming_it(container: Container, settings: Settings) -> None:
    closed = f"http://127.0.0.1:{unused_port()}"
    commands = [("reindex",), ("reindex", "--index", "orders")]
    for result in _storefront_each(commands, environment(settings, STOREFRONT_ELASTICSEARCH_URL=closed)):
        _assert_one_line_error(result, "Elasticsearch does not answer", "STOREFRONT_ELASTICSEARCH_URL",
                               absent=("STOREFRONT_DATABASE_URL",))


_ASYNCPG = importlib.util.find_spec("asyncpg") is not None


@pytest.mark.sqlite_only  # names a database URL of its own: the backend under test does not matter
@pytest.mark.parametrize(("url", "fault"), [
    ("mysql://x", "mysql+mysqldb is not an asyncio driver"),
    ("sqlite:///./write.db", "sqlite+pysqlite is not an asyncio driver"),
    ("notaurl", "not a database URL"),
    ("foo+bar://x", "SQLAlchemy knows no database 'foo+bar'"),
    ("sqlite+aiosqlite://", "in-memory SQLite"),
    (f"postgresql+asyncpg://storefront@127.0.0.1:{unused_port()}/storefront",
     "does not answer" if _ASYNCPG else "Python module asyncpg, which is not installed"),
])
def test_a_database_url_that_cannot_work_is_one_line(settings: Settings, url: str, fault: str) -> None:
    result = _storefront("migrate", env=environment(settings, STOREFRONT_DATABASE_URL=url))
    _assert_one_line_error(result, "STOREFRONT_DATABASE_URL", fault, absent=("STOREFRONT_ELASTICSEARCH_URL",))


@pytest.mark.postgres_only
def test_a_postgresql_that_refuses_the_url_is_one_line_at_start(settings: Settings) -> None:
    url = make_url(settings.database_url)
    refusals = [(url.set(password="wrong"), "password authentication failed"),
                (url.set(database="no_such_database"), 'database "no_such_database" does not exist')]
    for refused, fault in refusals:
        env = environment(settings, STOREFRONT_DATABASE_URL=refused.render_as_string(hide_password=False))
        for result in _storefront_each([("migrate",), ("serve", "--port", str(unused_port()), "--no-sync")], env):
            _assert_one_line_error(result, "STOREFRONT_DATABASE_URL", fault, absent=("wrong",))


def test_every_command_that_opens_the_database_names_a_bad_url(settings: Settings) -> None:
    commands = [("serve", "--port", str(unused_port())), ("sync",), ("reindex",), ("dead-letters", "list"),
                ("dead-letters", "retry", "--all")]
    for result in _storefront_each(commands, environment(settings, STOREFRONT_DATABASE_URL="mysql://x")):
        _assert_one_line_error(result, "STOREFRONT_DATABASE_URL", "mysql+mysqldb is not an asyncio driver")


@pytest.mark.sqlite_only  # names a database URL of its own: the backend under test does not matter
def test_a_sqlite_file_in_a_missing_directory_is_named(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'write.db'}"
    commands = [("migrate",), ("serve", "--port", str(unused_port()))]
    for result in _storefront_each(commands, environment(settings, STOREFRONT_DATABASE_URL=url)):
        _assert_one_line_error(result, "STOREFRONT_DATABASE_URL", f"{tmp_path / 'missing-dir'} of the SQLite file "
                               "does not exist")


@pytest.mark.sqlite_only  # names a database URL of its own: the backend under test does not matter
def test_a_database_that_fails_is_one_line(settings: Settings, tmp_path: Path) -> None:
    """The path is a directory: SQLite cannot open it as a file."""
    result = _storefront("migrate", env=environment(settings, STOREFRONT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}"))
    _assert_one_line_error(result, "unable to open database file", "STOREFRONT_DATABASE_URL")


def test_retry_all_with_nothing_parked_succeeds(container: Container, settings: Settings) -> None:
    result = _storefront("dead-letters", "retry", "--all", env=environment(settings))
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "no dead letters to retry", "")


def test_retry_of_an_unknown_dead_letter_is_bad_input(container: Container, settings: Settings) -> None:
    result = _storefront("dead-letters", "retry", "41", env=environment(settings))
    _assert_one_line_error(result, "no dead letter 41", status=2)


def test_open_mode_refuses_a_public_address(settings: Settings) -> None:
    result = _storefront("serve", "--host", "0.0.0.0", env=environment(settings))
    _assert_one_line_error(result, "refusing to bind 0.0.0.0", "STOREFRONT_JWT_SECRET")


def test_status_of_a_node_that_is_not_there(settings: Settings) -> None:
    result = _storefront("elasticsearch", "status", "--port", "9", env=environment(settings))
    assert (result.returncode, result.stdout.strip()) == (1, "not running")


async def test_sync_without_elasticsearch_warns_a_line_per_retry_and_stops_on_sigterm(settings: Settings) -> None:
    """Retries of the client and of the worker are expected failures: one WARNING line each, no
    traceback; SIGTERM still ends the worker although it never gets to finish a batch."""
    closed = f"http://127.0.0.1:{unused_port()}"
    worker = await asyncio.create_subprocess_exec(
        STOREFRONT, "sync", env=environment(settings, STOREFRONT_ELASTICSEARCH_URL=closed),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert worker.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("WARNING sync.worker indexing failed, retry 3 " in line for line in seen):
                seen.append((await worker.stderr.readline()).decode())
                assert seen[-1], "".join(seen)  # the worker must not exit by itself
    finally:
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        _, rest = await asyncio.wait_for(worker.communicate(), 30)
    stderr = "".join(seen) + rest.decode()
    assert worker.returncode == 0, stderr
    assert time.monotonic() - stopped_at < 20
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert all(_LOG_LINE.match(line) for line in lines), stderr
    assert any(" WARNING elastic_transport.transport Retrying request after failure" in line for line in lines)
    assert not any(" ERROR " in line for line in lines), stderr


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
        assert await container.indexed_position.wait_for(result.position, timeout_s=60)
        document = await ProductStore(container.elasticsearch, settings.index_prefix).get(result.id)
        assert document is not None and document["sku"] == "ALONE-1"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 15)
    assert worker.returncode == 0, stderr.decode()
