"""Business rejections of a command.

Each is raised inside a handler to roll the unit of work back, and returned (not raised)
by the command bus, so callers treat them as ordinary results.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
