"""Repositories: how handlers load and add aggregates inside their unit of work's transaction."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BigInteger, BindParameter, Connection, Select, Table, bindparam, delete, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from write_model.personal import new_key
from write_model.results import Accepted
from write_model.statements import Prepared
from write_model.tables import (
    ConsumerCheckpointRow,
    ConsumerLeaseRow,
    CustomerKeyRow,
    CustomerRow,
    IdempotencyRow,
    NewOrder,
    OrderRow,
    PlainCustomer,
    PlainProduct,
    ProductRow,
    utc_now,
)

_PRODUCTS = SQLModel.metadata.tables[ProductRow.__tablename__]
_ORDERS = SQLModel.metadata.tables[OrderRow.__tablename__]
_CUSTOMERS = SQLModel.metadata.tables[CustomerRow.__tablename__]
_KEYS = SQLModel.metadata.tables[CustomerKeyRow.__tablename__]
_IDEMPOTENCY = SQLModel.metadata.tables[IdempotencyRow.__tablename__]


def _plain_columns(table: Table, plain: type[Any]) -> Select[Any]:
    """The table's columns in the order of the plain class's fields, so a row is its arguments."""
    return core_select(*(table.c[field.name] for field in fields(plain)))


# New rows go in by prebuilt statements, not through the ORM's flush: a created aggregate is not
# changed again by the command that creates it, and a later command loads it from the table.
# (The ORM's unit of work took about a fifth of the writer's time per createProduct.)
@dataclass(frozen=True)
class _Inserter:
    statement: Prepared
    columns: tuple[str, ...]

    def __call__(self, connection: Connection, row: object) -> None:
        self.statement.write(connection, [{name: getattr(row, name) for name in self.columns}])


def _inserter(table: Table) -> _Inserter:
    columns = tuple(column.name for column in table.columns)
    return _Inserter(Prepared(insert(table), columns), columns)


_INSERT_PRODUCT = _inserter(_PRODUCTS)
_INSERT_ORDER = _inserter(_ORDERS)


# The reads of rows a command changes are FOR UPDATE: on PostgreSQL the rows stay locked until the
# transaction ends (see `_row_lock`); SQLite, one writer at a time, has no such clause, and
# SQLAlchemy leaves it out there.
@functools.cache
def _products_by_id(count: int) -> Prepared:
    """In id order: on PostgreSQL the rows are locked in that order, so two orders of the same
    products never wait for each other's row locks in a circle (a deadlock, which PostgreSQL breaks
    after 1 s). One statement per number of ids (an order has at most 50 lines)."""
    ids: list[BindParameter[str]] = [bindparam(f"id_{n}") for n in range(count)]
    return Prepared(_plain_columns(_PRODUCTS, PlainProduct).where(_PRODUCTS.c.id.in_(ids))
                    .order_by(_PRODUCTS.c.id).with_for_update(of=_PRODUCTS))


_RESERVE_STOCK = Prepared(update(_PRODUCTS).where(_PRODUCTS.c.id == bindparam("product_id")).values(
    stock=bindparam("new_stock"), version=bindparam("new_version"), updated_at=bindparam("new_updated_at")))
# The customer and their key in one read: an order's event seals their personal fields with it.
# (Locking the customer alone: the key's row may be missing, and an outer join's cannot be locked.)
_CUSTOMER_AND_KEY = Prepared(
    _plain_columns(_CUSTOMERS, PlainCustomer).add_columns(_KEYS.c.key)
    .outerjoin(_KEYS, _KEYS.c.customer_id == _CUSTOMERS.c.id)
    .where(_CUSTOMERS.c.id == bindparam("customer_id")).with_for_update(of=_CUSTOMERS))
_COUNT_ORDER = Prepared(update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("customer_id")).values(
    order_count=_CUSTOMERS.c.order_count + 1,
    total_spent_minor=_CUSTOMERS.c.total_spent_minor + bindparam("total_minor", type_=BigInteger)))
_KEY_OF = Prepared(core_select(_KEYS.c.key).where(_KEYS.c.customer_id == bindparam("customer_id")))
_INSERT_KEY = Prepared(insert(_KEYS), ("customer_id", "key", "created_at"))
_DELETE_KEY = Prepared(delete(_KEYS).where(_KEYS.c.customer_id == bindparam("customer_id")))
_ORDER_IDS = core_select(_ORDERS.c.id).where(_ORDERS.c.customer_id == bindparam("customer_id")).order_by(_ORDERS.c.id)
_IDEMPOTENCY_RECORD = Prepared(core_select(_IDEMPOTENCY.c.fingerprint, _IDEMPOTENCY.c.result)
                               .where(_IDEMPOTENCY.c.key == bindparam("key")))
_INSERT_IDEMPOTENCY_RECORD = Prepared(insert(_IDEMPOTENCY), ("key", "fingerprint", "result", "created_at"))

LoadedRow = TypeVar("LoadedRow", bound=SQLModel)


def _held(session: Session, row: LoadedRow | None) -> LoadedRow | None:
    """Keep a loaded row for as long as the session (one transaction, one group of commands): the
    session's identity map holds rows weakly, so without this every command of a group loaded
    the same hot product or customer again (a third of placeOrder's time in the writer)."""
    if row is not None:
        session.info.setdefault("held", {})[id(row)] = row
    return row


def _forget(session: Session, row_class: type[SQLModel], ids: Iterable[str]) -> None:
    """Expire the session's instances of rows just written by Core statements, so a later command
    of the group loads them again rather than reading what they held before."""
    for row_id in ids:
        instance = session.identity_map.get(Session.identity_key(row_class, row_id))
        if instance is not None:
            session.expire(instance)


def _row_lock(session: Session) -> bool | None:
    """FOR UPDATE where writers run concurrently (PostgreSQL): a command reads the aggregate it is
    about to change under a lock held until it commits, so two commands never both change the
    version they read (a lost update). SQLite runs one writer at a time, and None there keeps
    the identity map's held rows (a locking read always goes to the database)."""
    return None if session.get_bind().dialect.name == "sqlite" else True


class Products:
    def __init__(self, session: Session, connection: Connection) -> None:
        self._session = session
        self._connection = connection

    def get(self, product_id: str) -> ProductRow | None:
        return _held(self._session, self._session.get(ProductRow, product_id, with_for_update=_row_lock(self._session)))

    def add(self, product: PlainProduct) -> None:
        """Insert the new product: a taken SKU raises IntegrityError (here, unless the connection
        is writing behind), the unique index being the duplicate check (one statement fewer than
        a query before each insert)."""
        _INSERT_PRODUCT(self._connection, product)

    def plain(self, product_ids: Collection[str]) -> dict[str, PlainProduct]:
        """These products (those that exist) as plain objects, by id, in one statement; locked
        until the transaction ends where writers run concurrently. Changes to them are written
        with `save_stock`: an order's reservation is the busiest change there is, and the ORM's
        load and flush of its products took a fifth of a placeOrder in the writer (bench W2)."""
        ids = {f"id_{n}": product_id for n, product_id in enumerate(product_ids)}
        rows = _products_by_id(len(ids)).rows(self._connection, ids)
        return {row[0]: PlainProduct(*row) for row in rows}

    def save_stock(self, products: Collection[PlainProduct]) -> None:
        """Write the stock, version and update time of these products."""
        _RESERVE_STOCK.write(self._connection, [
            {"product_id": product.id, "new_stock": product.stock, "new_version": product.version,
             "new_updated_at": product.updated_at}
            for product in products
        ])
        _forget(self._session, ProductRow, (product.id for product in products))


class Customers:
    def __init__(self, session: Session, connection: Connection, keys: CustomerKeys) -> None:
        self._session = session
        self._connection = connection
        self._keys = keys

    def get(self, customer_id: str) -> CustomerRow | None:
        lock = _row_lock(self._session)
        return _held(self._session, self._session.get(CustomerRow, customer_id, with_for_update=lock))

    def plain(self, customer_id: str) -> PlainCustomer | None:
        """The customer to read, not change, by one statement with their key (the ORM's load of it
        was a seventh of a placeOrder in the writer); locked as `get` locks it."""
        row = _CUSTOMER_AND_KEY.first(self._connection, {"customer_id": customer_id})
        if row is None:
            return None
        *columns, key = row
        self._keys.known(customer_id, key)
        return PlainCustomer(*columns)

    def count_order(self, customer: PlainCustomer, total_minor: int) -> None:
        """Add a new order to the customer's totals, in the table and in `customer`."""
        _COUNT_ORDER.write(self._connection, [{"customer_id": customer.id, "total_minor": total_minor}])
        customer.order_count += 1
        customer.total_spent_minor += total_minor
        _forget(self._session, CustomerRow, [customer.id])

    def by_email_key(self, email_key: str) -> CustomerRow | None:
        result = self._session.exec(select(CustomerRow).where(CustomerRow.email_key == email_key))
        return result.first()

    def add(self, customer: CustomerRow) -> None:
        self._session.add(customer)


def keys_of(customer_ids: Collection[str]) -> Select[str, bytes]:
    """The keys of these customers (those not erased), as (customer id, key) rows."""
    return core_select(_KEYS.c.customer_id, _KEYS.c.key).where(_KEYS.c.customer_id.in_(customer_ids))


def ciphers_of(rows: Iterable[tuple[str, bytes]]) -> dict[str, AESGCM]:
    return {customer_id: AESGCM(key) for customer_id, key in rows}


class CustomerKeys:
    """The keys customers' personal data is sealed with (write_model/personal.py). Each is read
    once per unit of work: an order's event seals two parts with it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ciphers: dict[str, AESGCM | None] = {}

    def cipher(self, customer_id: str) -> AESGCM | None:
        """The customer's cipher; None once they are erased."""
        if customer_id not in self._ciphers:
            row = _KEY_OF.first(self._connection, {"customer_id": customer_id})
            self.known(customer_id, None if row is None else row[0])
        return self._ciphers[customer_id]

    def known(self, customer_id: str, key: bytes | None) -> None:
        """The customer's key as read with them (None: they have none, being erased)."""
        self._ciphers[customer_id] = None if key is None else AESGCM(key)

    def create(self, customer_id: str) -> None:
        key = new_key()
        _INSERT_KEY.execute(self._connection, {"customer_id": customer_id, "key": key, "created_at": utc_now()})
        self._ciphers[customer_id] = AESGCM(key)

    def delete(self, customer_id: str) -> None:
        _DELETE_KEY.execute(self._connection, {"customer_id": customer_id})
        self._ciphers[customer_id] = None


class Orders:
    def __init__(self, session: Session, connection: Connection) -> None:
        self._session = session
        self._connection = connection

    def get(self, order_id: str) -> OrderRow | None:
        return _held(self._session, self._session.get(OrderRow, order_id, with_for_update=_row_lock(self._session)))

    def add(self, order: NewOrder) -> None:
        """Insert the new order (with the connection's next statement, where it is writing behind)."""
        _INSERT_ORDER(self._connection, order)

    def ids_of(self, customer_id: str) -> list[str]:
        """The ids of every order the customer placed."""
        return list(self._connection.execute(_ORDER_IDS, {"customer_id": customer_id}).scalars())


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a command run under a key answered, and the fingerprint of its input."""

    fingerprint: str
    result: Accepted


class IdempotencyKeys:
    """`deferred`: the records of a transaction that stores them only with its events (see
    `TransactionOutbox`), which `get` finds as if they were stored."""

    def __init__(self, connection: Connection, deferred: dict[str, IdempotencyRecord] | None = None) -> None:
        self._connection = connection
        self._deferred = deferred

    def get(self, key: str) -> IdempotencyRecord | None:
        if self._deferred is not None and (record := self._deferred.get(key)) is not None:
            return record
        row = _IDEMPOTENCY_RECORD.first(self._connection, {"key": key})
        return None if row is None else IdempotencyRecord(row[0], Accepted(**row[1]))

    def add(self, key: str, record: IdempotencyRecord) -> None:
        """Store the record (now, unless deferred): a key taken by a concurrent command raises
        IntegrityError when it is stored."""
        if self._deferred is not None:
            self._deferred[key] = record
        else:
            self.store(self._connection, {key: record})

    @staticmethod
    def store(connection: Connection, records: dict[str, IdempotencyRecord]) -> None:
        if records:
            now = utc_now()
            _INSERT_IDEMPOTENCY_RECORD.execute_many(connection, [
                {"key": key, "fingerprint": record.fingerprint, "result": asdict(record.result), "created_at": now}
                for key, record in records.items()])


class ConsumerBookkeeping:
    """The outbox consumers' checkpoints and leases (write_model/consumers.py), written in the
    command writer's transactions: on SQLite a second writing connection waited for the writer
    thread's lock in SQLite's busy handler, whose sleeps made a checkpoint take up to 1.5 s under
    load (bench W3), and held the lock across event-loop trips while the commands waited."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def advance_checkpoint(self, consumer: str, position: int) -> None:
        """Move the checkpoint forward, never back."""
        # Locked where two workers' transactions can overlap: the check and the write are one step.
        row = self._session.get(ConsumerCheckpointRow, consumer, with_for_update=_row_lock(self._session))
        if row is None:
            row = ConsumerCheckpointRow(name=consumer, position=position, updated_at=utc_now())
        elif row.position >= position:
            return
        row.position = position
        row.updated_at = utc_now()
        self._session.add(row)
        self._session.flush()

    def acquire_or_renew_lease(self, consumer: str, owner: str, ttl: timedelta) -> bool:
        """Extend the lease if it is `owner`'s and nobody asked for it; take it if it is free or
        expired. False if another holds it, or if `owner` just handed it to whoever asked."""
        now = utc_now()
        lease = col(ConsumerLeaseRow.name) == consumer
        mine = col(ConsumerLeaseRow.owner) == owner
        wanted = col(ConsumerLeaseRow.wanted_by).is_not(None)
        if self._update(lease & mine & ~wanted, expires_at=now + ttl):
            return True
        if self._update(lease & mine & wanted, owner=ConsumerLeaseRow.wanted_by, wanted_by=None,
                        expires_at=now + ttl):
            return False  # handed over
        if self._update(lease & (col(ConsumerLeaseRow.expires_at) < now), owner=owner, wanted_by=None,
                        expires_at=now + ttl):
            return True
        try:
            with self._session.begin_nested():
                self._session.execute(insert(ConsumerLeaseRow).values(name=consumer, owner=owner, expires_at=now + ttl))
        except IntegrityError:
            return False  # the row exists and someone else holds it
        return True

    def _update(self, condition: Any, **values: Any) -> bool:
        result = self._session.execute(update(ConsumerLeaseRow).where(condition).values(**values))
        return bool(getattr(result, "rowcount", 0))
