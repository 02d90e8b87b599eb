from __future__ import annotations

import asyncio
import os
import sqlite3
from asyncio.subprocess import PIPE
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from tests.support import STOREFRONT, in_unit_of_work
from write_model.database import MIGRATIONS, Database, create_schema, open_database
from write_model.outbox import Outbox
from write_model.repositories import IdempotencyRecord
from write_model.results import Accepted
from write_model.sealing import seal_batch


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _upgrade_to(revision: str) -> Callable[[Connection], None]:
    def upgrade(connection: Connection) -> None:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


def _check(connection: Connection) -> None:
    config = _config()
    config.attributes["connection"] = connection
    command.check(config)  # raises when the tables and the migrations disagree


async def test_the_migrations_build_exactly_the_tables_the_code_declares(database: Database) -> None:
    async with database.writer.connect() as connection:
        await connection.run_sync(_check)


async def test_migrating_again_and_from_concurrent_processes_is_harmless(
    database: Database, empty_database_url: str
) -> None:
    await create_schema(database)
    env = {**os.environ, "STOREFRONT_DATABASE_URL": empty_database_url}
    migrations = [
        await asyncio.create_subprocess_exec(STOREFRONT, "migrate", env=env, stdout=PIPE, stderr=PIPE) for _ in range(3)
    ]
    for process in migrations:
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
    fresh = open_database(empty_database_url)
    async with fresh.reader.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM outbox_head"))).all() == [(1,)]
        assert (await connection.execute(text("SELECT version_num FROM alembic_version"))).all() == [(_head(),)]
    await fresh.dispose()


async def test_idempotency_records_stored_with_a_command_name_still_answer(tmp_path: Path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade_to("0004"))
    with closing(sqlite3.connect(tmp_path / "old.db")) as old, old:
        old.execute("INSERT INTO idempotency_keys (key, command, fingerprint, result, created_at) VALUES"
                    " ('k-1', 'AdjustStock', 'f-1', '{\"id\": \"p-1\", \"version\": 2, \"position\": 7}',"
                    " '2026-01-01 00:00:00')")

    await create_schema(database)

    record = await in_unit_of_work(database, lambda uow: uow.idempotency_keys.get("k-1"))
    assert record == IdempotencyRecord("f-1", Accepted("p-1", 2, 7))
    await database.dispose()


_AT = datetime(2026, 1, 1, tzinfo=UTC)
_OLD_CUSTOMERS = sa.table("customers", *(sa.column(name) for name in ("id", "email", "email_key", "name", "version")),
                          sa.column("created_at", sa.DateTime(timezone=True)),
                          sa.column("updated_at", sa.DateTime(timezone=True)))
_OLD_EVENTS = sa.table("outbox", *(sa.column(name) for name in (
    "position", "event_id", "stream_type", "stream_id", "stream_version", "event_type")),
    sa.column("payload", sa.JSON), sa.column("occurred_at", sa.DateTime(timezone=True)))


def _stored_in_clear(connection: Connection) -> list[dict[str, Any]]:
    """Two customers and an order of one, as they were stored before personal data was sealed."""
    customers = [{"id": f"c-{n}", "email": f"Old{n}@Example.com", "email_key": f"old{n}@example.com",
                  "name": f"Old Timer-{n}", "version": 1, "created_at": _AT, "updated_at": _AT} for n in (1, 2)]
    connection.execute(sa.insert(_OLD_CUSTOMERS), customers)
    shown = [{key: customer[key] for key in ("id", "email", "name", "version")} | {
        "orderCount": 0, "totalSpentMinor": 0, "createdAt": _AT.isoformat(), "updatedAt": _AT.isoformat()}
        for customer in customers]
    payloads = [*shown, {"id": "o-1", "customerId": "c-1", "customerName": "Old Timer-1", "status": "PLACED",
                         "lines": [], "totalMinor": 0, "version": 1, "placedAt": _AT.isoformat(),
                         "updatedAt": _AT.isoformat(), "customer": shown[0]}]
    connection.execute(sa.insert(_OLD_EVENTS), [
        {"position": position, "event_id": f"e-{position}", "stream_type": stream_type, "stream_id": payload["id"],
         "stream_version": 1, "event_type": event_type, "payload": payload, "occurred_at": _AT}
        for position, (stream_type, event_type, payload) in enumerate(
            [("customer", "CustomerRegistered", shown[0]), ("customer", "CustomerRegistered", shown[1]),
             ("order", "OrderPlaced", payloads[2])], start=1)])
    connection.execute(text("UPDATE outbox_head SET position = 3"))
    return payloads


async def test_what_was_stored_in_clear_is_sealed_resumably_and_reads_as_it_did(empty_database_url: str) -> None:
    database = open_database(empty_database_url)
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade_to("0005"))
        await connection.commit()
        async with connection.begin():
            payloads = await connection.run_sync(_stored_in_clear)
        await connection.run_sync(_upgrade_to("head"))
        await connection.commit()
        # Interrupted after a batch of customers and one of events: it resumes from there.
        for _ in range(3):
            assert await connection.run_sync(seal_batch, database.email_keys, 2)

    await create_schema(database)

    async with database.reader.connect() as connection:
        stored = [row.payload for row in await connection.execute(text("SELECT payload FROM outbox"))]
        hashes = dict((await connection.execute(text("SELECT id, email_key FROM customers"))).all())
        keys = (await connection.execute(text("SELECT count(*) FROM customer_keys"))).scalar_one()
    assert not any(secret in str(stored) for secret in ("Old1@", "Old2@", "Old Timer"))
    assert (hashes, keys) == ({"c-1": database.email_keys("old1@example.com"),
                               "c-2": database.email_keys("old2@example.com")}, 2)
    assert [event.payload for event in await Outbox(database).read_after(0, 10)] == payloads
    taken = await in_unit_of_work(database, lambda uow: uow.customers.by_email_key(uow.email_keys("OLD1@example.com")))
    assert taken is not None and taken.id == "c-1"
    await database.dispose()


_ORDERS_0006 = sa.table("orders", *(sa.column(name) for name in (
    "id", "customer_id", "status", "total", "total_minor", "version")), sa.column("lines", sa.JSON),
    sa.column("placed_at", sa.DateTime(timezone=True)), sa.column("updated_at", sa.DateTime(timezone=True)))


def _customers_with_orders(connection: Connection) -> None:
    connection.execute(sa.insert(_OLD_CUSTOMERS), [
        {"id": f"c-{n}", "email": None, "email_key": None, "name": f"C{n}", "version": 1, "created_at": _AT,
         "updated_at": _AT} for n in (1, 2, 3)])
    connection.execute(sa.insert(_ORDERS_0006), [
        {"id": f"o-{n}", "customer_id": customer_id, "status": status, "total": "0", "total_minor": total_minor,
         "version": 1, "lines": [], "placed_at": _AT, "updated_at": _AT}
        for n, (customer_id, status, total_minor) in enumerate(
            [("c-1", "PLACED", 1_000), ("c-1", "SHIPPED", 250), ("c-1", "CANCELLED", 9_999), ("c-2", "CANCELLED", 5)])])


async def test_customers_stored_before_their_order_totals_were_kept_get_them_from_their_orders(
    empty_database_url: str,
) -> None:
    database = open_database(empty_database_url)
    async with database.writer.connect() as connection:
        await connection.run_sync(_upgrade_to("0006"))
        await connection.commit()
        async with connection.begin():
            await connection.run_sync(_customers_with_orders)
        await connection.run_sync(_upgrade_to("head"))
        await connection.commit()
        totals = (await connection.execute(
            text("SELECT id, order_count, total_spent_minor FROM customers ORDER BY id"))).all()
    assert [tuple(row) for row in totals] == [("c-1", 2, 1_250), ("c-2", 0, 0), ("c-3", 0, 0)]
    await database.dispose()
