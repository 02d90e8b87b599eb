"""Repositories: how handlers load and add aggregates inside their unit of work's transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from write_model.results import Accepted
from write_model.tables import CustomerRow, IdempotencyRow, OrderRow, ProductRow, utc_now


class Products:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, product_id: str) -> ProductRow | None:
        return self._session.get(ProductRow, product_id)

    def by_sku(self, sku: str) -> ProductRow | None:
        result = self._session.exec(select(ProductRow).where(ProductRow.sku == sku))
        return result.first()

    def add(self, product: ProductRow) -> None:
        self._session.add(product)


class Customers:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, customer_id: str) -> CustomerRow | None:
        return self._session.get(CustomerRow, customer_id)

    def by_email_key(self, email_key: str) -> CustomerRow | None:
        result = self._session.exec(select(CustomerRow).where(CustomerRow.email_key == email_key))
        return result.first()

    def add(self, customer: CustomerRow) -> None:
        self._session.add(customer)


@dataclass(frozen=True)
class OrderStats:
    count: int
    total_minor: int


class Orders:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, order_id: str) -> OrderRow | None:
        return self._session.get(OrderRow, order_id)

    def add(self, order: OrderRow) -> None:
        self._session.add(order)

    def stats(self, customer_id: str) -> OrderStats:
        """Count and total of the customer's orders that are not cancelled, including the
        changes made so far in this unit of work."""
        self._session.flush()
        result = self._session.exec(
            select(func.count(), func.coalesce(func.sum(OrderRow.total_minor), 0)).where(
                OrderRow.customer_id == customer_id, OrderRow.status != "CANCELLED"
            )
        )
        count, total_minor = result.one()
        return OrderStats(int(count), int(total_minor))


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a command run under a key answered, and the fingerprint of its input."""

    fingerprint: str
    result: Accepted


class IdempotencyKeys:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> IdempotencyRecord | None:
        row = self._session.get(IdempotencyRow, key)
        return None if row is None else IdempotencyRecord(row.fingerprint, Accepted(**row.result))

    def add(self, key: str, record: IdempotencyRecord) -> None:
        self._session.add(
            IdempotencyRow(key=key, fingerprint=record.fingerprint, result=asdict(record.result), created_at=utc_now())
        )
