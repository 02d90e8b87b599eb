"""The command bus: runs each command's handler in a unit of work of its own, through a writer."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from write_model import customers, orders, products
from write_model.availability import is_unavailable
from write_model.commands import (
    AdjustStock,
    CancelOrder,
    Command,
    CreateProduct,
    DiscontinueProduct,
    EraseCustomer,
    PlaceOrder,
    RegisterCustomer,
    ShipOrder,
    UpdateProduct,
)
from write_model.errors import FieldProblem, Rejection, ValidationFailed, WriteModelUnavailable
from write_model.results import Accepted
from write_model.scrub import Scrubber
from write_model.unit_of_work import UnitOfWork
from write_model.writer import UnitsOfWork, Writer

Handler = Callable[[Any, UnitOfWork], Accepted]
CommitListener = Callable[[int], None]

HANDLERS: dict[type[Command], Handler] = {
    CreateProduct: products.create_product,
    UpdateProduct: products.update_product,
    AdjustStock: products.adjust_stock,
    DiscontinueProduct: products.discontinue_product,
    RegisterCustomer: customers.register_customer,
    EraseCustomer: customers.erase_customer,
    PlaceOrder: orders.place_order,
    CancelOrder: orders.cancel_order,
    ShipOrder: orders.ship_order,
}

MAX_IDEMPOTENCY_KEY = 200
# Commands that erase personal data from rows: what the rows held is scrubbed from disk after them.
ERASING: tuple[type[Command], ...] = (EraseCustomer,)

log = logging.getLogger(__name__)


class UnresolvedConflict(RuntimeError):
    """A command broke a uniqueness constraint again on its retry: no concurrent writer
    explains that, so it is a bug (the API reports INTERNAL)."""


class CommandBus:
    """Dispatches commands through a writer; business rejections come back as values, bugs propagate.

    `on_commit` listeners hear each committed position, so an in-process sync worker
    can wake at once instead of waiting for its next poll. After an erasing command the
    `scrubber` (when given) removes what the erased rows left on disk.
    """

    def __init__(self, writer: Writer, handlers: dict[type[Command], Handler] = HANDLERS,
                 scrubber: Scrubber | None = None) -> None:
        self._writer = writer
        self._handlers = handlers
        self._scrubber = scrubber
        self._listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def dispatch(self, command: Command) -> Accepted | Rejection:
        """Run the command. Once started it runs to its end even if the caller is cancelled
        (a timeout, a client gone), so a commit is never cut off half way."""
        return await asyncio.shield(self._dispatch(command))

    async def _dispatch(self, command: Command) -> Accepted | Rejection:
        try:
            result = await self._writer.run(functools.partial(self._run, command))
        except Rejection as rejection:  # from either run: the retry's rejection is the answer
            return rejection
        except Exception as error:
            if not is_unavailable(error):
                raise
            # The database is away, locked past its timeout, or its file cannot be opened.
            log.warning("%s could not reach the write model: %s", type(command).__name__, error)
            raise WriteModelUnavailable("The write model does not answer; try again shortly.") from error
        for listener in self._listeners:
            listener(result.position)
        if self._scrubber is not None and isinstance(command, ERASING):
            await self._scrubber.erased()
        return result

    def _run(self, command: Command, units: UnitsOfWork) -> Accepted:
        """The command's job, run by the writer."""
        try:
            return self._run_once(command, units)
        except IntegrityError:
            # A concurrent writer won a uniqueness race (same SKU or idempotency key, on a
            # database that does not serialize writers): run again to see its result.
            pass
        try:
            return self._run_once(command, units)
        except IntegrityError as error:
            log.error("%s broke a uniqueness constraint again on its retry: %s", type(command).__name__, error.orig)
            raise UnresolvedConflict(f"{type(command).__name__} conflicted twice: {error.orig}") from error

    def _run_once(self, command: Command, units: UnitsOfWork) -> Accepted:
        handler = self._handlers[type(command)]
        with units() as uow:
            key = command.idempotency_key
            if key is None:
                return handler(command, uow)
            fingerprint = _fingerprint(command)
            earlier = _earlier_result(uow, key, fingerprint)
            if earlier is not None:
                return earlier
            uow.remember_result_under(key, fingerprint)
            return handler(command, uow)


def _earlier_result(uow: UnitOfWork, key: str, fingerprint: str) -> Accepted | None:
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.strip():
        raise ValidationFailed(
            "The idempotency key is invalid.",
            [FieldProblem("idempotencyKey", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")],
        )
    record = uow.idempotency_keys.get(key)
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise ValidationFailed(
            "The idempotency key was already used with a different input.",
            [FieldProblem("idempotencyKey", "already used with a different input")],
        )
    return record.result


def _fingerprint(command: Command) -> str:
    fields = {name: value for name, value in dataclasses.asdict(command).items() if name != "key"}
    canonical = json.dumps([type(command).__name__, fields], sort_keys=True, default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value.normalize())
    raise TypeError(f"cannot fingerprint {type(value).__name__}")
