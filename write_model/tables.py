"""SQLModel tables of the write model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, LargeBinary
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; every timestamp we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"

    id: str = Field(primary_key=True)
    sku: str = Field(unique=True, index=True)
    name: str
    description: str
    category: str
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Exact decimal kept as text: SQLite has no exact decimal type.
    price: str
    stock: int
    status: str
    version: int
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


# Rows as plain objects, outside the ORM, where it does not pay for itself (write_model/repositories.py):
# a product as createProduct inserts it (the ORM's instance took a fifth of the writer's time per
# createProduct to build) and as placeOrder reads and reserves it; a new order. Their commands
# read and write them with Core statements; the other commands load the tables' ORM rows.
@dataclass(slots=True)
class PlainProduct:
    id: str
    sku: str
    name: str
    description: str
    category: str
    tags: list[str]
    price: str
    stock: int
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(primary_key=True)
    # None once the customer is erased, as is `email_key`; `name` then reads "erased customer".
    email: str | None
    # The keyed hash of the lower-cased email (write_model/personal.py): uniqueness is case-insensitive.
    email_key: str | None = Field(unique=True, index=True)
    name: str
    version: int
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # Of the orders placed and not cancelled, kept as they change: an order's event carries them,
    # and counting every order of the customer for each of their orders grew with their history.
    order_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    total_spent_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


@dataclass(slots=True)
class PlainCustomer:
    """A customer as placeOrder reads it, for the order's event; its totals are written by
    `Customers.count_order`."""

    id: str
    email: str | None
    email_key: str | None
    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    order_count: int
    total_spent_minor: int


class CustomerKeyRow(SQLModel, table=True):
    """The key a customer's personal data is sealed with in the log; deleted when they are erased."""

    __tablename__ = "customer_keys"

    customer_id: str = Field(primary_key=True)
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _timestamp()


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", index=True)
    status: str
    # Snapshots taken at placement: productId, sku, name, quantity, unitPrice, lineTotal.
    lines: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    total: str
    # The total in minor units, so statistics sum exact integers in SQL.
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int
    placed_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


@dataclass(slots=True)
class NewOrder:
    id: str
    customer_id: str
    status: str
    lines: list[dict[str, Any]]
    total: str
    total_minor: int
    version: int
    placed_at: datetime
    updated_at: datetime


class OutboxRow(SQLModel, table=True):
    """One change event. `position` is global, gap-free and in commit order."""

    __tablename__ = "outbox"

    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event_id: str = Field(unique=True)
    stream_type: str
    stream_id: str = Field(index=True)
    stream_version: int
    event_type: str
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = _timestamp()


class OutboxHeadRow(SQLModel, table=True):
    """A single row holding the last assigned position.

    Bumping it inside the command's transaction row-locks it (PostgreSQL) or rides on the
    database write lock (SQLite), so positions are handed out in commit order without gaps.
    """

    __tablename__ = "outbox_head"

    id: int = Field(default=1, primary_key=True)
    position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class SealingProgressRow(SQLModel, table=True):
    """How far the one-off sealing of data stored before sealing existed got (write_model/sealing.py):
    customers first, then the events up to `until`, the head when the migration ran."""

    __tablename__ = "sealing_progress"

    id: int = Field(default=1, primary_key=True)
    customers_done: bool
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    until: int = Field(sa_column=Column(BigInteger, nullable=False))


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True)
    # Hash of the command's type and input: the same key with another input is refused.
    fingerprint: str
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()


class ConsumerCheckpointRow(SQLModel, table=True):
    """How far a named outbox consumer (the sync worker) has durably processed."""

    __tablename__ = "consumer_checkpoints"

    name: str = Field(primary_key=True)
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _timestamp()


class ConsumerLeaseRow(SQLModel, table=True):
    """Which process may run a named consumer, until when. Several workers may start; only
    the holder indexes, and another takes over once the holder stops renewing."""

    __tablename__ = "consumer_leases"

    name: str = Field(primary_key=True)
    owner: str
    expires_at: datetime = _timestamp()
    # Someone who asked the holder to hand the lease over after its current batch.
    wanted_by: str | None = None


class DeadLetterRow(SQLModel, table=True):
    """An index operation Elasticsearch refused for good; kept until a retry succeeds."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    consumer: str = Field(index=True)
    position: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    event_type: str
    stream_id: str
    index_name: str
    document_id: str
    error: str
    attempts: int
    parked_at: datetime = _timestamp()
