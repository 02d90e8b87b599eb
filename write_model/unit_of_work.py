"""A unit of work: one transaction that stores the new state and its events together."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.events import NewEvent
from write_model.outbox_writer import OutboxWriter
from write_model.repositories import Customers, IdempotencyKeys, IdempotencyRecord, Orders, Products
from write_model.results import Accepted


class UnitOfWork:
    """Opened per command. Handlers load and add aggregates through `products`, `customers`
    and `orders`, record their events on `outbox`, and call `commit()`.

    Leaving the block without `commit()` (including by an exception) rolls everything back.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._session = AsyncSession(engine, expire_on_commit=False)
        self.products = Products(self._session)
        self.customers = Customers(self._session)
        self.orders = Orders(self._session)
        self.idempotency_keys = IdempotencyKeys(self._session)
        self.outbox = OutboxWriter(self._session)
        self._key: tuple[str, str] | None = None

    async def __aenter__(self) -> Self:
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._session.rollback()
        await self._session.close()

    def remember_result_under(self, key: str, fingerprint: str) -> None:
        """On commit, store the command's result under this idempotency key, in the same transaction."""
        self._key = (key, fingerprint)

    async def commit(self) -> int:
        """Write the recorded events (and the idempotency record) and commit; returns the
        position of the last event."""
        await self._session.flush()
        last = self.outbox.last
        position = await self.outbox.append()
        if self._key is not None:
            key, fingerprint = self._key
            self.idempotency_keys.add(key, IdempotencyRecord(fingerprint, _result(last, position)))
        await self._session.commit()
        return position


def _result(last: NewEvent | None, position: int) -> Accepted:
    """The handler's answer, read off its last event (see `Accepted`)."""
    if last is None:
        raise RuntimeError("a command run under an idempotency key recorded no event")
    return Accepted(last.stream_id, last.stream_version, position)


UnitOfWorkFactory = Callable[[], UnitOfWork]
