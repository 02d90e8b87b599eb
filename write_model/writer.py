"""Writers: where commands' units of work run.

A job is what the command bus runs for one command: it opens units of work from the factory it
is given (a retry or a rejection undoes only its own unit's part: see `run_group`) and returns
the command's answer. A writer runs jobs and commits them.

`GroupCommitWriter` (SQLite) runs every job of the process on one thread with a synchronous
connection, so a whole unit of work runs without a trip through the event loop per statement,
and the jobs that queue up while a transaction runs share the next one (group commit).
`SessionGroupWriter` (PostgreSQL) groups the same way on an async engine: every transaction
locks the outbox head row until it commits, so a database server commits one at a time anyway,
and a group takes that lock once for all its commands instead of once for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.outbox_writer import TransactionOutbox
from write_model.personal import DEVELOPMENT_EMAIL_KEYS, EmailKeys
from write_model.statements import Prepared, flush_before_sqlalchemy_executes, writing_behind
from write_model.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")

UnitsOfWork = Callable[[], AbstractContextManager[UnitOfWork]]
"""Opens a unit of work: leaving its block normally keeps its changes, an exception undoes them."""

Job = Callable[[UnitsOfWork], T]


class Writer(Protocol):
    committed_groups: int
    """Transactions committed so far: fewer than the commands, where they were grouped."""

    async def run(self, job: Job[T]) -> T:
        """Run the job and commit; its answer (or exception) comes back only once it is durable."""
        ...

    async def close(self) -> None: ...


class GroupAborted(Exception):
    """A job raised what is not an Exception (SystemExit, KeyboardInterrupt...): the whole group
    was rolled back and each of its callers gets this; the writer goes on with the next group."""


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: Exception | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def run_group(session: Session, jobs: Sequence[Job[Any]], email_keys: EmailKeys) -> list[Outcome]:
    """Run the jobs in one transaction, in order, and commit it. A job that raises undoes only
    its own part; a failing COMMIT raises, failing them all, and so does a job that lost its
    connection: the transaction went with it, and committing would fail with a PendingRollbackError
    that names no database fault.

    The group runs first with its units side by side, without savepoints (on PostgreSQL a unit's
    SAVEPOINT and RELEASE were two of a createProduct's three round trips), its writes held back
    and sent together (`writing_behind`), and the outbox head taken only at the end, its positions
    pending until then (`TransactionOutbox`, deferred). Should a unit or a held-back write fail,
    that transaction is rolled back and the group runs again as it always did: the head first,
    each unit in a savepoint of its own, every statement sent when issued. Handlers depend only
    on the database and their command, so the second run answers as if it had been the only one."""
    try:
        return _run_jobs(session, jobs, email_keys, isolated=False)
    except _UnitRaised:
        return _run_jobs(session, jobs, email_keys, isolated=True)


class _UnitRaised(BaseException):
    """A unit of a group run without savepoints raised: only rolling the whole transaction back
    undoes its part. A BaseException, so that no job takes it for its own failure."""


class LostBeforeCommit(Exception):
    """The group's connection was lost before its COMMIT was sent: the server rolls such a
    transaction back, so nothing of the group was written and it may run again."""

    def __init__(self, error: DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error


def _run_jobs(session: Session, jobs: Sequence[Job[Any]], email_keys: EmailKeys, *, isolated: bool
              ) -> list[Outcome]:
    outcomes = []
    with session.begin():
        try:
            # Every unit of the group is on this connection; the ORM's lookup of it cost about as
            # much as a statement, and a group looked it up once per command.
            connection = session.connection()
            outbox = TransactionOutbox(connection, deferred=not isolated)
            if isolated:
                outbox.lock()
            unit = _savepoint if isolated else _side_by_side
            with contextlib.nullcontext() if isolated else writing_behind(connection):
                for job in jobs:
                    try:
                        outcomes.append(Outcome(value=job(lambda: unit(session, connection, email_keys, outbox))))
                    except Exception as error:
                        if _lost_connection(error):
                            raise
                        outcomes.append(Outcome(error=error))  # the job's own answer, delivered to its caller alone
            outbox.write()
        except DBAPIError as error:
            if _lost_connection(error):
                raise LostBeforeCommit(error) from error
            if not isolated:  # a write held back, or a key stored by another process since a unit looked it up
                raise _UnitRaised from error
            raise
    return [Outcome(outbox.resolve(outcome.value), outcome.error) for outcome in outcomes]


@contextmanager
def _side_by_side(session: Session, connection: Connection, email_keys: EmailKeys, outbox: TransactionOutbox
                  ) -> Iterator[UnitOfWork]:
    try:
        yield UnitOfWork(session, email_keys, connection, outbox)
        session.flush()  # what a savepoint's end would flush, for the next unit's own statements to see
    except Exception as error:
        if _lost_connection(error):
            raise
        raise _UnitRaised from error


def _lost_connection(error: Exception) -> bool:
    """The transaction went with its connection: nothing more can run in it, savepoint or not."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


_SAVEPOINT = Prepared(text("SAVEPOINT unit_of_work"))
_RELEASE_SAVEPOINT = Prepared(text("RELEASE SAVEPOINT unit_of_work"))
_ROLLBACK_TO_SAVEPOINT = Prepared(text("ROLLBACK TO SAVEPOINT unit_of_work"))


@contextmanager
def _savepoint(session: Session, connection: Connection, email_keys: EmailKeys, outbox: TransactionOutbox
               ) -> Iterator[UnitOfWork]:
    mark = outbox.mark()
    # Taken now, by a statement of its own: the session's savepoint is emitted only once the ORM
    # touches the connection, after whatever the unit wrote with its own statements first, and
    # SQLAlchemy's Core savepoint cost a third of a createProduct in the writer.
    _SAVEPOINT.execute(connection)
    try:
        with session.begin_nested():  # what the ORM loaded or changed in the unit is undone with it
            yield UnitOfWork(session, email_keys, connection, outbox)
    except BaseException:
        outbox.rewind(mark)
        if not connection.invalidated:
            _ROLLBACK_TO_SAVEPOINT.execute(connection)
            _RELEASE_SAVEPOINT.execute(connection)
        raise
    _RELEASE_SAVEPOINT.execute(connection)


@dataclass(frozen=True)
class _Request:
    job: Job[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommitWriter:
    """One thread, one connection. The thread starts with the first job (after migrations,
    which run before anything is dispatched) and stops on `close()`.

    A group is the job that wakes the thread plus whatever else is queued, up to `group_max`,
    waiting at most `group_wait_s` for more (0: a lone command is never delayed).
    """

    def __init__(self, engine: Engine, *, group_max: int = 64, group_wait_s: float = 0.0,
                 email_keys: EmailKeys = DEVELOPMENT_EMAIL_KEYS) -> None:
        self._engine = engine
        flush_before_sqlalchemy_executes(engine)
        self._email_keys = email_keys
        self._group_max = group_max
        self._group_wait_s = group_wait_s
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.committed_groups = 0

    async def run(self, job: Job[T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="write-model-writer", daemon=True)
            self._thread.start()
        self._queue.put(_Request(job, loop, future))
        return await future

    @property
    def queued(self) -> int:
        """Jobs waiting for the next group."""
        return self._queue.qsize()

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)
        self._engine.dispose()

    def _serve(self) -> None:
        while (group := self._next_group()) is not None:
            try:
                with Session(self._engine, expire_on_commit=False) as session:
                    outcomes = run_group(session, [request.job for request in group], self._email_keys)
                self.committed_groups += 1
            except LostBeforeCommit as lost:
                outcomes = [Outcome(error=lost.error)] * len(group)
            except Exception as error:  # BEGIN or COMMIT failed: no job of the group is durable
                outcomes = [Outcome(error=error)] * len(group)
            except BaseException as error:  # a job raised e.g. SystemExit: the process's writer must go on
                log.critical("a write group ended with %r; its commands failed", error, exc_info=error)
                outcomes = [Outcome(error=GroupAborted(f"the write group was aborted: {error!r}"))] * len(group)
            _settle(group, outcomes)

    def _next_group(self) -> list[_Request] | None:
        first = self._queue.get()
        if first is None:
            return None
        group = [first]
        deadline = time.monotonic() + self._group_wait_s
        while len(group) < self._group_max:
            remaining = deadline - time.monotonic()
            try:
                request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                self._queue.put(None)  # stop once this group is done
                break
            group.append(request)
        return group


def _settle(group: Sequence[_Request], outcomes: Sequence[Outcome]) -> None:
    """Hand the answers back with one wake-up per event loop, not one per command: each wake-up
    is a write to the loop's self-pipe and a trip through its selector."""
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Outcome]]] = {}
    for request, outcome in zip(group, outcomes, strict=True):
        answers.setdefault(request.loop, []).append((request.future, outcome))
    for loop, settled in answers.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop has closed: nobody waits for the answers
            loop.call_soon_threadsafe(_resolve, settled)


def _resolve(settled: list[tuple[asyncio.Future[Any], Outcome]]) -> None:
    for future, outcome in settled:
        if future.cancelled():
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)


# The server ended the transaction to break a deadlock (with a transaction that locks rows in
# another order and is not a write group) or a serialization conflict: nothing of it was
# written, and running the command again is the remedy PostgreSQL prescribes.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSIENT_ATTEMPTS = 3


@dataclass(eq=False)
class _Queued:
    job: Job[Any]
    future: asyncio.Future[Any]
    attempt: int = 1


def _transient(error: Exception | None) -> bool:
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


class SessionGroupWriter:
    """Group commit on an async engine (PostgreSQL): the jobs that queue while a group's
    transaction runs share the next one, one group at a time. A group locks the outbox head
    after everything else it locks (at its end; first when it runs again with savepoints), so two
    groups never wait for each other's rows in a circle, and the head-row lock is taken once per
    group rather than once per command, held from its last statements to its commit. A job whose
    transaction the server ended to break a deadlock with another client (or the whole group's),
    and a group whose connection was lost before its COMMIT, run again in the next group: the
    engine does not ping its connection before each group (three round trips more a group), so
    the first group after a server restart finds it lost."""

    def __init__(self, engine: AsyncEngine, *, group_max: int = 64,
                 email_keys: EmailKeys = DEVELOPMENT_EMAIL_KEYS) -> None:
        self._engine = engine
        flush_before_sqlalchemy_executes(engine.sync_engine)
        self._email_keys = email_keys
        self._group_max = group_max
        self._queued: list[_Queued] = []
        self._runner: asyncio.Task[None] | None = None
        self.committed_groups = 0

    async def run(self, job: Job[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append(_Queued(job, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_groups())
        return await future

    @property
    def queued(self) -> int:
        return len(self._queued)

    async def _run_groups(self) -> None:
        while self._queued:
            group, self._queued = self._queued[:self._group_max], self._queued[self._group_max:]
            lost = False
            try:
                outcomes = await self._run_group([queued.job for queued in group])
                self.committed_groups += 1
            except LostBeforeCommit as error:  # e.g. the server restarted since the pool's last group
                lost = True
                outcomes = [Outcome(error=error.error)] * len(group)
            except Exception as error:  # BEGIN or COMMIT failed
                outcomes = [Outcome(error=error)] * len(group)
            except BaseException as error:
                aborted = Outcome(error=GroupAborted(f"the write group was aborted: {error!r}"))
                if isinstance(error, asyncio.CancelledError):  # the loop is closing: nothing more runs
                    group, self._queued = group + self._queued, []
                _resolve([(queued.future, aborted) for queued in group])
                if isinstance(error, asyncio.CancelledError):
                    raise
                log.critical("a write group ended with %r; its commands failed", error, exc_info=error)
                continue
            again = [queued for queued, outcome in zip(group, outcomes, strict=True)
                     if (lost or _transient(outcome.error)) and queued.attempt < TRANSIENT_ATTEMPTS]
            if again:
                log.info("%s commands' transaction %s; running them again", len(again),
                         "lost its connection" if lost else "was ended by the server to break a deadlock")
                for queued in again:
                    queued.attempt += 1
                self._queued[:0] = again
            _resolve([(queued.future, outcome) for queued, outcome in zip(group, outcomes, strict=True)
                      if queued not in again])

    async def _run_group(self, jobs: list[Job[Any]]) -> list[Outcome]:
        async with AsyncSession(self._engine, expire_on_commit=False) as session:
            # sqlmodel's AsyncSession hands its own Session class to the function.
            return await session.run_sync(lambda sync: run_group(cast(Session, sync), jobs, self._email_keys))

    async def close(self) -> None:
        """Finish the queued groups, then close the engine's connections (it is the commands' own)."""
        if self._runner is not None:
            await asyncio.shield(self._runner)
        await self._engine.dispose()
