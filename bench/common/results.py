"""What a benchmark hands back: rows of ours-versus-baseline figures, each judged against its target."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# How far a figure is from its target: >= 1 means met, and 2 means "twice as good as needed".
Margin = Callable[[float, float], float]


@dataclass(frozen=True)
class Target:
    text: str
    margin_of: Margin | None = None

    def margin(self, ours: float, baseline: float) -> float | None:
        return None if self.margin_of is None else self.margin_of(ours, baseline)


def _divide(numerator: float, denominator: float) -> float:
    return math.inf if denominator == 0 else numerator / denominator


def ratio_at_least(ratio: float) -> Target:
    """Higher is better (throughput): ours / baseline must reach `ratio`."""
    return Target(f">= {ratio:g}x baseline", lambda ours, base: _divide(_divide(ours, base), ratio))


def ratio_at_most(ratio: float) -> Target:
    """Lower is better (latency): ours / baseline must stay within `ratio`."""
    return Target(f"<= {ratio:g}x baseline", lambda ours, base: _divide(ratio * base, ours))


def at_most(limit: float, unit: str) -> Target:
    return Target(f"<= {limit:g} {unit}", lambda ours, _base: _divide(limit, ours))


REPORT_ONLY = Target("report")


@dataclass(frozen=True)
class Row:
    id: str
    what: str
    unit: str
    ours: float
    baseline: float
    target: Target
    # A correctness failure (lost events, wrong answers) misses the row whatever the figures say.
    problem: str | None = None

    @property
    def ratio(self) -> float:
        return _divide(self.ours, self.baseline)

    @property
    def margin(self) -> float | None:
        return self.target.margin(self.ours, self.baseline)

    @property
    def verdict(self) -> str:
        if self.problem is not None:
            return "MISSED"
        margin = self.margin
        if margin is None:
            return "report"
        return "met" if margin >= 1 else "MISSED"


@dataclass
class Outcome:
    """One benchmark's rows, plus what a reader needs to trust them: sizes, notes, plots, profiles."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)
    error: str | None = None
