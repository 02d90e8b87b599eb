"""Prebuilt statements run on the driver's cursor of a unit of work's connection.

SQLAlchemy's execution of a prebuilt Core statement (its cache lookup, the parameters' processing,
an execution context and a result object) costs 8-10 times the driver's own call: 10-14 µs
against 1.3-1.7 µs for a row by key on SQLite. A placeOrder runs eight statements, and that
machinery was half of the command writer's time (bench/README.md, Findings). A `Prepared`
statement is compiled once per dialect by SQLAlchemy; its parameters are converted by their
types' own bind processors and its rows by their result processors, and the driver's errors are
raised as SQLAlchemy raises them (a lost connection invalidated first), so a caller gets what
`Connection.execute` would have given it, with rows as plain tuples.

A write group's first run also holds its inserts and stock writes back (`writing_behind`) and
sends those of one statement together, before whatever statement comes next.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Select, TextClause, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any]
T = TypeVar("T")

_REQUIRED = object()


@dataclass(frozen=True)
class _Plan:
    sql: str
    parameters: tuple[tuple[str, Any, Processor | None], ...]  # name, default (or _REQUIRED), bind processor
    results: tuple[Processor | None, ...]  # empty when no column needs converting

    def bind(self, given: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, default, processor in self.parameters:
            value = given[name] if default is _REQUIRED else given.get(name, default)
            values.append(value if processor is None else processor(value))
        return tuple(values)

    def load(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(row)  # the driver's own row type (asyncpg's Record) as a tuple
        return tuple(value if processor is None or value is None else processor(value)
                     for value, processor in zip(row, self.results, strict=True))


class Prepared:
    """A Core statement (a SELECT, an INSERT, UPDATE or DELETE with or without RETURNING, or a
    text that returns no rows) run with the driver's cursor. `columns` names an INSERT's columns,
    in the order given to it."""

    def __init__(self, statement: Select[Any] | UpdateBase | TextClause, columns: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._columns = None if columns is None else list(columns)
        # Per engine: a dialect carries its engine's JSON serializer, which the processors use.
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()

    def rows(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        flush_writes(connection)
        plan = self._plan(connection.dialect)
        bound = plan.bind(parameters or {})

        def fetch(cursor: Any) -> list[Sequence[Any]]:
            cursor.execute(plan.sql, bound)
            return list(cursor.fetchall())

        return [plan.load(row) for row in _call(connection, plan.sql, bound, fetch)]

    def first(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.rows(connection, parameters)
        return rows[0] if rows else None

    def execute(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; returns how many rows it changed."""
        flush_writes(connection)
        plan = self._plan(connection.dialect)
        bound = plan.bind(parameters or {})

        def run(cursor: Any) -> int:
            cursor.execute(plan.sql, bound)
            return int(cursor.rowcount)

        return _call(connection, plan.sql, bound, run)

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        flush_writes(connection)
        self._run_many(connection, rows)

    def write(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once for each of the rows, whose outcome nobody reads: on a
        connection `writing_behind`, with the next statement instead."""
        held: _Held | None = connection.info.get(_BEHIND)
        if held is None:
            self.execute_many(connection, rows)
        else:
            held.writes.append((self, rows))

    def _run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        plan = self._plan(connection.dialect)
        bound = [plan.bind(row) for row in rows]
        _call(connection, plan.sql, bound, lambda cursor: cursor.executemany(plan.sql, bound))

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _compile(self._statement, self._columns, dialect)
        return plan


_BEHIND = "storefront_writes_behind"  # in the connection's info: the writes held back


@dataclass
class _Held:
    writes: list[tuple[Prepared, Sequence[Mapping[str, Any]]]] = field(default_factory=list)
    failure: DBAPIError | None = None


@contextmanager
def writing_behind(connection: Connection) -> Iterator[None]:
    """Within the block, `Prepared.write` holds its rows back until the connection's next
    statement (any other statement, or SQLAlchemy's own), or the end of the block. Consecutive
    writes of one statement then go as one executemany: a round trip for a write group's inserts,
    instead of one an insert. A held-back write fails at that next statement, and again at the
    end of the block, even if whoever issued that statement took the failure for its own."""
    held = _Held()
    connection.info[_BEHIND] = held
    try:
        yield
        flush_writes(connection)
        if held.failure is not None:
            raise held.failure
    finally:
        # The info outlives the block with the pooled connection, unless it was invalidated,
        # which clears the info (and makes reading it raise).
        if not connection.invalidated:
            del connection.info[_BEHIND]


def flush_writes(connection: Connection) -> None:
    """Run the writes held back on the connection, in order."""
    held: _Held | None = connection.info.get(_BEHIND)
    if held is None or not held.writes:
        return
    writes, held.writes = held.writes, []
    try:
        for statement, runs in itertools.groupby(writes, key=lambda write: write[0]):
            statement._run_many(connection, [row for _, rows in runs for row in rows])
    except DBAPIError as error:
        held.failure = held.failure or error
        raise


def flush_before_sqlalchemy_executes(engine: Engine) -> None:
    """Statements SQLAlchemy runs on the engine's connections (the ORM's loads and flushes) go
    after the writes held back, as they were issued."""
    event.listen(engine, "before_cursor_execute",
                 lambda connection, *_: flush_writes(connection))


def _call(connection: Connection, sql: str, bound: Any, run: Callable[[Any], T]) -> T:
    """Run on a cursor of the connection's driver, raising its errors as `Connection.execute` does."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None  # an open connection holds one
    cursor = dbapi_connection.cursor()
    try:
        return run(cursor)
    except dialect.loaded_dbapi.Error as error:
        invalidated = dialect.is_disconnect(error, dbapi_connection, cursor)
        if invalidated:
            connection.invalidate(error)
        raise DBAPIError.instance(sql, bound, error, dialect.loaded_dbapi.Error,
                                  connection_invalidated=invalidated, dialect=dialect) from error
    except BaseException as error:
        if not isinstance(error, Exception):  # cut off mid-statement: what the connection holds is unknown
            connection.invalidate(error)
        raise
    finally:
        cursor.close()


def _compile(statement: Select[Any] | UpdateBase | TextClause, columns: list[str] | None, dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=columns)
    if not compiled.positional or compiled.positiontup is None:
        raise TypeError(f"{dialect.name}'s driver takes named parameters; Prepared supports positional ones")
    parameters = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        default = _REQUIRED if bind.required else bind.value
        parameters.append((name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in getattr(statement, "exported_columns", ()))
    return _Plan(compiled.string, tuple(parameters), results if any(results) else ())
