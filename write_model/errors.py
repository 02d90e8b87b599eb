"""Business rejections of a command.

Each is raised inside a handler to roll the unit of work back, and returned (not raised)
by the command bus, so callers treat them as ordinary results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class WriteModelUnavailable(Exception):
    """The database did not answer or could not be opened; the command may not have run.
    Not a rejection: the caller did nothing wrong and may try again."""


class Rejection(Exception):
    """A command that broke a business rule; nothing was written."""

    message: str


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


@dataclass
class ValidationFailed(Rejection):
    message: str
    fields: list[FieldProblem] = field(default_factory=list)


@dataclass
class NotFound(Rejection):
    message: str
    id: str


@dataclass
class VersionConflict(Rejection):
    message: str
    expected_version: int | None
    actual_version: int


@dataclass
class Duplicate(Rejection):
    message: str
    field: str


@dataclass
class InvalidState(Rejection):
    message: str
    current_status: str


@dataclass
class NotPermitted(Rejection):
    """The actor may not do this at all (not a business outcome: the API reports FORBIDDEN)."""

    message: str


@dataclass
class InsufficientStock(Rejection):
    message: str
    product_id: str
    requested: int
    available: int


def found(kind: str, aggregate_id: str, row: T | None) -> T:
    """The row, or NotFound naming what was looked for."""
    if row is None:
        raise NotFound(f"No {kind} with id {aggregate_id!r}.", aggregate_id)
    return row


def check_version(kind: str, expected: int | None, actual: int) -> None:
    """Optimistic concurrency: a caller that names a version must be looking at the current one."""
    if expected is not None and expected != actual:
        raise VersionConflict(f"The {kind} was changed by someone else.", expected, actual)
