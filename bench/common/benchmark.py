"""What every benchmark module exports: its id, its sizes at full and smoke scale, and `run`."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bench.common.context import Run
from bench.common.results import Outcome

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Sizes = TypeVar("Sizes", bound="DataclassInstance")


@dataclass(frozen=True)
class Benchmark(Generic[Sizes]):
    id: str
    title: str
    # Frozen dataclasses of ints and floats, so `--set B1.events=20000` can replace any of them.
    full: Sizes
    smoke: Sizes
    run: Callable[[Run, Sizes], Awaitable[Outcome]]

    def sizes(self, smoke: bool, overrides: dict[str, str]) -> Sizes:
        chosen = self.smoke if smoke else self.full
        known = {f.name for f in dataclasses.fields(chosen)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"{self.id} has no size {', '.join(sorted(unknown))}; it has {', '.join(sorted(known))}")
        values: dict[str, Any] = {name: type(getattr(chosen, name))(text) for name, text in overrides.items()}
        return dataclasses.replace(chosen, **values)


def describe(sizes: DataclassInstance) -> str:
    return ", ".join(f"{f.name}={getattr(sizes, f.name):,}" for f in dataclasses.fields(sizes))
