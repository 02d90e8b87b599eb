"""A unit of work: one transaction that stores the new state and its events together."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.events import NewEvent
from write_model.results import Accepted
from write_model.tables import CustomerRow, IdempotencyRow, OrderRow, OutboxHeadRow, OutboxRow, ProductRow, utc_now


class UnitOfWork:
    """Opened per command. `commit()` appends the recorded events to the outbox and commits.

    Leaving the block without `commit()` (including by an exception) rolls everything back.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._events: list[NewEvent] = []
        self._idempotency: tuple[str, str, str] | None = None

    async def __aenter__(self) -> Self:
        self.session = AsyncSession(self._engine, expire_on_commit=False)
        await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.session.rollback()
        await self.session.close()

    async def product(self, product_id: str) -> ProductRow | None:
        return await self.session.get(ProductRow, product_id)

    async def product_by_sku(self, sku: str) -> ProductRow | None:
        result = await self.session.exec(select(ProductRow).where(ProductRow.sku == sku))
        return result.first()

    async def customer(self, customer_id: str) -> CustomerRow | None:
        return await self.session.get(CustomerRow, customer_id)

    async def customer_by_email(self, email_key: str) -> CustomerRow | None:
        result = await self.session.exec(select(CustomerRow).where(CustomerRow.email_key == email_key))
        return result.first()

    async def order(self, order_id: str) -> OrderRow | None:
        return await self.session.get(OrderRow, order_id)

    async def order_stats(self, customer_id: str) -> tuple[int, int]:
        """Count and total (minor units) of the customer's orders that are not cancelled,
        including changes made in this unit of work."""
        await self.session.flush()
        result = await self.session.exec(
            select(func.count(), func.coalesce(func.sum(OrderRow.total_minor), 0)).where(
                OrderRow.customer_id == customer_id, OrderRow.status != "CANCELLED"
            )
        )
        count, total = result.one()
        return int(count), int(total)

    def record(self, event: NewEvent) -> None:
        self._events.append(event)

    def remember_result(self, key: str, command: str, fingerprint: str) -> None:
        """Store the result under this idempotency key in the same transaction as the change."""
        self._idempotency = (key, command, fingerprint)

    async def commit(self, aggregate_id: str, version: int) -> Accepted:
        """Write the outbox (and the idempotency record) and commit."""
        await self.session.flush()
        head = await self._reserve_positions(len(self._events))
        first = head - len(self._events) + 1
        now = utc_now()
        for offset, new_event in enumerate(self._events):
            self.session.add(
                OutboxRow(
                    position=first + offset,
                    event_id=str(uuid.uuid4()),
                    stream_type=new_event.stream_type,
                    stream_id=new_event.stream_id,
                    stream_version=new_event.stream_version,
                    event_type=new_event.event_type,
                    payload=new_event.payload,
                    occurred_at=now,
                )
            )
        accepted = Accepted(aggregate_id, version, head)
        if self._idempotency is not None:
            key, command, fingerprint = self._idempotency
            result = {"id": aggregate_id, "version": version, "position": head}
            self.session.add(
                IdempotencyRow(key=key, command=command, fingerprint=fingerprint, result=result, created_at=now)
            )
        await self.session.commit()
        self._events.clear()
        return accepted

    async def _reserve_positions(self, count: int) -> int:
        # Increment first: on PostgreSQL the row lock then orders concurrent commits.
        await self.session.exec(
            update(OutboxHeadRow).values(position=OutboxHeadRow.position + count)
        )
        head = await self.session.exec(select(OutboxHeadRow.position))
        return head.one()


UnitOfWorkFactory = Callable[[], UnitOfWork]
