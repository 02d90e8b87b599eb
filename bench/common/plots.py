"""PNG plots with matplotlib's Agg backend (no display needed). Ours is always blue, the baseline
orange, so every figure reads the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from bench.common.results import Row

matplotlib.use("Agg")  # before pyplot is imported: servers and CI have no display
import matplotlib.pyplot as plt

OURS, BASELINE = "tab:blue", "tab:orange"
Series = dict[str, Sequence[float]]


def _colour(label: str, index: int) -> str:
    return BASELINE if label.startswith("baseline") else (OURS if index == 0 else f"C{index + 2}")


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def latency_cdf(path: Path, title: str, series: Series, unit: str = "ms") -> Path:
    """Share of requests (y) answered within a time (x): the further left, the faster."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for index, (label, values) in enumerate(series.items()):
        ordered = sorted(values)
        shares = [(rank + 1) / len(ordered) for rank in range(len(ordered))]
        axes.step(ordered, shares, where="post", label=label, color=_colour(label, index))
    axes.set(title=title, xlabel=f"latency ({unit})", ylabel="share of requests within", ylim=(0, 1.01))
    if all(min(values) > 0 for values in series.values()):
        axes.set_xscale("log")
    axes.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
    axes.axhline(0.99, color="grey", linewidth=0.5, linestyle=":")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return _save(figure, path)


def bars(path: Path, title: str, values: dict[str, float], unit: str) -> Path:
    figure, axes = plt.subplots(figsize=(6, 3.5))
    labels = list(values)
    drawn = axes.bar(labels, [values[label] for label in labels],
                     color=[_colour(label, index) for index, label in enumerate(labels)])
    axes.bar_label(drawn, fmt="{:,.0f}")
    axes.set(title=title, ylabel=unit)
    return _save(figure, path)


def progress(path: Path, title: str, series: dict[str, tuple[Sequence[float], Sequence[float]]],
             xlabel: str, ylabel: str) -> Path:
    """Lines of (x, y) points, e.g. events indexed over time: a steeper line is faster."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for index, (label, (xs, ys)) in enumerate(series.items()):
        axes.plot(xs, ys, label=label, color=_colour(label, index))
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, alpha=0.3)
    axes.legend()
    return _save(figure, path)


def scatter(path: Path, title: str, xs: Sequence[float], ys: Sequence[float], xlabel: str, ylabel: str) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.scatter(xs, ys, s=4, color=OURS)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, alpha=0.3)
    return _save(figure, path)


def margins(path: Path, rows: Sequence[Row]) -> Path:
    """Every judged row on one axis: how many times better than its target (1 = exactly on it)."""
    judged = [row for row in rows if row.margin is not None]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(judged) + 1.5))
    labels = [f"{row.id} {row.what}" for row in judged]
    values = [max(min(row.margin or 0, 1000), 0.001) for row in judged]
    colours = ["tab:green" if row.verdict == "met" else "tab:red" for row in judged]
    drawn = axes.barh(labels, values, color=colours)
    axes.bar_label(drawn, labels=[f" ours {row.ours:,.4g} {row.unit} ({row.ratio:.2f}x baseline)" for row in judged],
                   fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    axes.axvline(1, color="black", linewidth=1)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlim(min(min(values) / 2, 0.5), max(max(values) * 8, 2))  # room for the labels
    axes.invert_yaxis()
    axes.set(title="Margin over each target (right of the line: met)", xlabel="target margin (log scale)")
    return _save(figure, path)
