"""The current state of every aggregate, read in one consistent transaction (for rebuilding
read indices). Each state comes as a record shaped like the event that would carry it, so the
sync projection turns it into the same document as the events do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model import customers, events, orders, products
from write_model.database import Database
from write_model.tables import CustomerRow, OrderRow, OutboxHeadRow, ProductRow

Row = TypeVar("Row", ProductRow, CustomerRow, OrderRow)
KINDS = ("products", "customers", "orders")


@dataclass(frozen=True)
class StateRecord:
    """An aggregate's state as of a snapshot at `position`: like a stored event whose payload
    carries that state (the fields a projection reads), without being an event of the log."""

    position: int
    stream_type: str
    stream_id: str
    stream_version: int
    payload: dict[str, Any]


class Snapshot:
    """One read transaction that sees every state as of `position`: events after it are not
    reflected, events up to it are. (An event's own copy of its state is its "state payload".)"""

    def __init__(self, session: AsyncSession, position: int) -> None:
        self._session = session
        self.position = position

    async def count(self, kind: str) -> int:
        table = _TABLES[kind]
        result = await self._session.exec(select(func.count()).select_from(table))
        return result.one()

    async def states(self, kind: str, batch_size: int, *, after: str = "", until: str | None = None,
                     only: Collection[str] | None = None) -> AsyncIterator[list[StateRecord]]:
        """States in id order: those with an id after `after` and up to `until`, or only those
        named by `only` (checking a part of the read model)."""
        pages = _Pages(batch_size, after, until, only)
        if kind == "products":
            async for product_rows in self._rows(ProductRow, pages):
                yield self._records(events.PRODUCT, [products.state_payload(row) for row in product_rows])
        elif kind == "customers":
            async for customer_rows in self._rows(CustomerRow, pages):
                yield self._records(events.CUSTOMER, [customers.state_payload(row) for row in customer_rows])
        elif kind == "orders":
            async for order_rows in self._rows(OrderRow, pages):
                yield self._records(events.ORDER, await self._order_states(order_rows))
        else:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")

    def _records(self, stream_type: str, states: list[dict[str, Any]]) -> list[StateRecord]:
        return [StateRecord(self.position, stream_type, state["id"], state["version"], state) for state in states]

    async def _rows(self, table: type[Row], pages: _Pages) -> AsyncIterator[list[Row]]:
        """Keyset pages by id inside the one transaction, so memory stays bounded."""
        last = pages.after
        while True:
            query = select(table).where(col(table.id) > last)
            if pages.until is not None:
                query = query.where(col(table.id) <= pages.until)
            if pages.only is not None:
                query = query.where(col(table.id).in_(pages.only))
            page = list(await self._session.exec(query.order_by(col(table.id)).limit(pages.size)))
            if not page:
                return
            yield page
            last = page[-1].id

    async def _order_states(self, rows: list[OrderRow]) -> list[dict[str, Any]]:
        names = await self._session.exec(
            select(CustomerRow.id, CustomerRow.name).where(col(CustomerRow.id).in_({row.customer_id for row in rows}))
        )
        name_of = dict(names.all())
        return [orders.state_payload(row, name_of[row.customer_id]) for row in rows]


@dataclass(frozen=True)
class _Pages:
    size: int
    after: str
    until: str | None
    only: Collection[str] | None


_TABLES: dict[str, type[SQLModel]] = {"products": ProductRow, "customers": CustomerRow, "orders": OrderRow}


@asynccontextmanager
async def open_snapshot(database: Database) -> AsyncIterator[Snapshot]:
    """A read transaction that sees one moment: SQLite's WAL gives every read transaction a
    snapshot; other databases are asked for REPEATABLE READ."""
    async with AsyncSession(database.reader) as session:
        if make_url(str(database.reader.url)).get_backend_name() != "sqlite":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        head = await session.exec(select(OutboxHeadRow.position))
        yield Snapshot(session, head.first() or 0)
