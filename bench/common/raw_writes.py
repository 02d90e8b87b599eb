"""The write baseline of B6 and B7: per transaction, a product row and its outbox row with plain
SQLAlchemy Core statements, on the engine and SQLite settings the write model uses."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col

from bench.common.catalog import product_state
from bench.common.measure import Throughput, closed_loop
from write_model import events
from write_model.database import Database, create_schema, open_database
from write_model.money import from_minor_units
from write_model.tables import OutboxHeadRow, OutboxRow, ProductRow


async def raw_insert_rate(database_url: str, clients: int, count: int, time_limit_s: float) -> Throughput:
    """Transactions per second of `clients` concurrent writers on a fresh database. Positions come
    from the same head row the unit of work bumps, so the baseline keeps them gap-free too."""
    database = open_database(database_url)
    try:
        await create_schema(database)
        rng = random.Random(6)
        return await closed_loop(clients, count, time_limit_s, lambda n: _insert(database, product_state(n, rng)))
    finally:
        await database.dispose()


async def _insert(database: Database, state: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    async with database.writer.begin() as connection:  # BEGIN IMMEDIATE, as for every command
        await connection.execute(insert(ProductRow).values(
            id=state["id"], sku=state["sku"], name=state["name"], description=state["description"],
            category=state["category"], tags=state["tags"], price=from_minor_units(state["priceMinor"]), stock=state["stock"],
            status=state["status"], version=1, created_at=now, updated_at=now,
        ))
        position = col(OutboxHeadRow.position)
        head = await connection.execute(update(OutboxHeadRow).values(position=position + 1).returning(position))
        await connection.execute(insert(OutboxRow).values(
            position=head.scalar_one(), event_id=str(uuid.uuid4()), stream_type=events.PRODUCT,
            stream_id=state["id"], stream_version=1, event_type=events.PRODUCT_CREATED, payload=state,
            occurred_at=now,
        ))
