"""The command bus's retry after a uniqueness race, on a real SQLite write model (no read model)."""

from __future__ import annotations

import logging
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import wait_until
from write_model import products
from write_model.bus import CommandBus, Handler, UnresolvedConflict
from write_model.commands import Command, CreateProduct
from write_model.database import Database, open_database
from write_model.errors import Duplicate, WriteModelUnavailable
from write_model.results import Accepted
from write_model.tables import PlainProduct, utc_now
from write_model.unit_of_work import UnitOfWork

SKU = "RACE-1"


# A handler that raises runs once more than the bus runs it: its group's first run, without
# savepoints, is rolled back and run again with them (write_model/writer.py, run_group).
GROUP_RERUN = 1


def _bus(database: Database, handler: Handler) -> CommandBus:
    handlers: dict[type[Command], Handler] = {CreateProduct: handler}
    return CommandBus(database.commands, handlers)


def _create() -> CreateProduct:
    return CreateProduct(sku=SKU, name="Raced", category="c", price=Decimal("1.00"))


def _add_duplicate_sku(uow: UnitOfWork) -> None:
    """What a handler meets when a concurrent writer committed the same SKU first: the insert
    raises IntegrityError (UNIQUE constraint failed: products.sku)."""
    now = utc_now()
    uow.products.add(PlainProduct(id=str(uuid.uuid4()), sku=SKU, name="Raced", description="", category="c", tags=[],
                                price="1.00", stock=0, status="ACTIVE", version=1, created_at=now, updated_at=now))


async def test_a_rejection_on_the_retry_is_returned(database: Database) -> None:
    assert isinstance(await CommandBus(database.commands).dispatch(_create()), Accepted)
    runs = 0

    def lose_the_race_then_check(command: CreateProduct, uow: UnitOfWork) -> Accepted:
        nonlocal runs
        runs += 1
        if runs <= 1 + GROUP_RERUN:
            _add_duplicate_sku(uow)
        return products.create_product(command, uow)  # sees the winner's SKU: Duplicate

    result = await _bus(database, lose_the_race_then_check).dispatch(_create())

    assert runs == 2 + GROUP_RERUN
    assert isinstance(result, Duplicate) and result.field == "sku"


async def test_a_second_conflict_raises_and_is_logged_with_its_cause(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(await CommandBus(database.commands).dispatch(_create()), Accepted)
    runs = 0

    def always_conflict(command: CreateProduct, uow: UnitOfWork) -> Accepted:
        nonlocal runs
        runs += 1
        _add_duplicate_sku(uow)
        return products.create_product(command, uow)

    with caplog.at_level(logging.ERROR, logger="write_model.bus"), pytest.raises(UnresolvedConflict) as raised:
        await _bus(database, always_conflict).dispatch(_create())

    assert runs == 2 + GROUP_RERUN
    [record] = [r for r in caplog.records if r.name == "write_model.bus"]
    assert "CreateProduct" in record.getMessage() and "UNIQUE constraint failed: products.sku" in record.getMessage()
    assert "UNIQUE constraint failed" in str(raised.value.__cause__)


async def test_a_database_that_cannot_be_opened_is_unavailable_not_a_bug(tmp_path: Path) -> None:
    """A real SQLite failure: the database path names a directory, so the file cannot be opened."""
    (tmp_path / "write.db").mkdir()
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'write.db'}")
    threads_before = set(threading.enumerate())
    try:
        with pytest.raises(WriteModelUnavailable) as raised:
            await CommandBus(database.commands).dispatch(_create())
        assert "unable to open database file" in str(raised.value.__cause__)
    finally:
        await database.dispose()
        # aiosqlite's thread of the failed connection reports its own end to this loop: let it.
        await wait_until(lambda: not set(threading.enumerate()) - threads_before, 10,
                         lambda: f"aiosqlite threads to end: {set(threading.enumerate()) - threads_before}")
