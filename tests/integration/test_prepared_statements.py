"""Statements run on the driver's cursor (write_model/statements.py) give what SQLAlchemy's
execution gives: the same converted values, the same errors, a lost connection invalidated."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel

from write_model.bus import CommandBus
from write_model.commands import CreateProduct
from write_model.database import Database
from write_model.results import Accepted
from write_model.statements import Prepared
from write_model.tables import IdempotencyRow, ProductRow, utc_now

_PRODUCTS = SQLModel.metadata.tables[ProductRow.__tablename__]
_IDEMPOTENCY = SQLModel.metadata.tables[IdempotencyRow.__tablename__]


async def test_rows_hold_the_values_sqlalchemy_reads(database: Database) -> None:
    bus = CommandBus(database.commands)
    for n in range(3):
        created = await bus.dispatch(CreateProduct(sku=f"P-{n}", name=f"Product {n}", category="tools",
                                                   price=Decimal("2.50"), tags=("a", f"t{n}"), initial_stock=n))
        assert isinstance(created, Accepted)
    by_sku = select(_PRODUCTS).where(_PRODUCTS.c.sku.in_([bindparam("first"), bindparam("second")])).order_by(
        _PRODUCTS.c.sku)

    def both(connection: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        given = {"first": "P-0", "second": "P-2"}
        return Prepared(by_sku).rows(connection, given), [tuple(row) for row in connection.execute(by_sku, given)]

    async with database.writer.connect() as connection:
        prepared, executed = await connection.run_sync(both)
    assert prepared == executed
    assert [row[1] for row in prepared] == ["P-0", "P-2"]
    assert prepared[1][5] == ["a", "t2"]  # the JSON column, decoded
    assert prepared[1][10] == executed[1][10] and isinstance(prepared[1][10], datetime)  # the timestamp, parsed


async def test_a_taken_key_raises_sqlalchemys_integrity_error(database: Database) -> None:
    record = Prepared(insert(_IDEMPOTENCY), ("key", "fingerprint", "result", "created_at"))
    row = {"key": "k-1", "fingerprint": "f", "result": {"id": "x", "version": 1, "position": 1},
           "created_at": utc_now()}

    def twice(connection: Connection) -> None:
        assert record.execute(connection, row) == 1
        record.execute(connection, row)

    async with database.writer.connect() as connection:
        await connection.begin()
        with pytest.raises(IntegrityError):
            await connection.run_sync(twice)


@pytest.mark.postgres_only
async def test_a_connection_lost_mid_transaction_is_invalidated(database: Database) -> None:
    head = Prepared(select(text("1")))
    async with database.writer.connect() as connection:
        await connection.begin()
        backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with database.reader.connect() as other:
            assert (await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})).scalar_one()
        with pytest.raises(DBAPIError) as raised:
            await connection.run_sync(head.rows)
        assert raised.value.connection_invalidated
        assert connection.invalidated
    async with database.writer.connect() as connection:  # the pool hands out a new connection
        assert await connection.run_sync(head.rows) == [(1,)]
