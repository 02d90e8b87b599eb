"""Which database errors mean "the write model is away for now", not "this command is wrong"."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes of a server that is away or refuses for the moment (PostgreSQL): 08 connection
# exception, 53 insufficient resources (too many connections), 57 operator intervention (shutting
# down, starting up). asyncpg's errors of these classes reach us as plain DBAPIErrors.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
# asyncpg's protocol found its connection mid-operation, as a server shutting down leaves it
# ("cannot switch to state 12; another operation (2) is in progress"); named, not imported:
# asyncpg is installed only for PostgreSQL.
_BROKEN_CONNECTION = frozenset({"InternalClientError"})


def is_unavailable(error: BaseException) -> bool:
    """True for a refused or lost connection, a locked SQLite file past its timeout, an exhausted
    pool, or a server shutting down or starting up."""
    if isinstance(error, (OperationalError, InterfaceError, OSError, PoolTimeout)):
        return True
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        return error.connection_invalidated or type(error.orig).__name__ in _BROKEN_CONNECTION or (
            isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES)
    return False
