"""The console table, REPORT.md and results.json of a run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.common.plots import margins
from bench.common.results import Outcome, Row

PROFILE_EXCERPT_LINES = 80


@dataclass(frozen=True)
class Record:
    """One benchmark as it ran: the sizes it used, how long it took and what it found."""

    id: str
    title: str
    sizes: str
    seconds: float
    outcome: Outcome


@dataclass(frozen=True)
class RunInfo:
    mode: str
    started: str
    seconds: float
    commit: str
    machine: str


def number(value: float, unit: str = "") -> str:
    if math.isinf(value) or math.isnan(value):
        return str(value)
    digits = ",.0f" if abs(value) >= 100 else ".1f" if abs(value) >= 10 else ".2f"
    return f"{value:{digits}}{' ' + unit if unit else ''}"


def _cells(row: Row) -> list[str]:
    verdict = row.verdict if row.problem is None else f"MISSED ({row.problem})"
    return [row.id, row.what, number(row.ours, row.unit), number(row.baseline, row.unit),
            f"{number(row.ratio)}x", row.target.text, verdict]


HEADER = ["id", "what", "ours", "baseline", "ratio", "target", "result"]


def _all_rows(records: list[Record]) -> list[list[str]]:
    cells = []
    for record in records:
        cells += [_cells(row) for row in record.outcome.rows]
        if record.outcome.error is not None:
            cells.append([record.id, record.title, "-", "-", "-", "-", "ERROR (see the report)"])
    return cells


def table(records: list[Record]) -> str:
    cells = [HEADER, *_all_rows(records)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write(out: Path, info: RunInfo, records: list[Record]) -> Path:
    rows = [row for record in records for row in record.outcome.rows]
    summary_plot = margins(out / "margins.png", rows) if any(row.margin is not None for row in rows) else None
    lines = [
        "# Benchmark report", "",
        f"**{info.mode}** run started {info.started}, took {info.seconds / 60:.1f} min; "
        f"commit `{info.commit}`; {info.machine}.", "",
        "Each row pairs our path with the rawest way to do the same work, measured side by side in this "
        "run; only the ratio is comparable across machines. `ratio` is ours / baseline: above 1 is more "
        "throughput or more latency. How to read each row: `bench/README.md`.", "",
    ]
    if info.mode == "smoke":
        lines += ["> Smoke sizes are tiny: they show that every benchmark works, not how fast anything is.", ""]
    lines += ["## Summary", "", _markdown_table(records), ""]
    if summary_plot is not None:
        lines += [f"![targets]({summary_plot.name})", ""]
    for record in records:
        lines += _section(out, record)
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(_json(info, records), indent=2) + "\n")
    return path


def _markdown_table(records: list[Record]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _all_rows(records)]
    return "\n".join(lines)


def _section(out: Path, record: Record) -> list[str]:
    outcome = record.outcome
    lines = [f"## {record.id}: {record.title}", "", f"Sizes: {record.sizes}. Took {record.seconds:.1f} s.", ""]
    if outcome.error is not None:
        lines += ["The benchmark failed:", "", "```text", outcome.error.rstrip(), "```", ""]
    lines += [f"- {note}" for note in outcome.notes]
    lines += [""] + [f"![{plot.stem}]({plot.relative_to(out)})" for plot in outcome.plots] + [""]
    for profile in outcome.profiles:
        excerpt = "\n".join(profile.read_text(errors="replace").splitlines()[:PROFILE_EXCERPT_LINES])
        lines += [f"<details><summary>profile: {profile.relative_to(out)} (first {PROFILE_EXCERPT_LINES} lines)"
                  "</summary>", "", "```text", excerpt, "```", "</details>", ""]
    return lines


def _json(info: RunInfo, records: list[Record]) -> dict[str, object]:
    return {
        "mode": info.mode, "started": info.started, "seconds": info.seconds, "commit": info.commit,
        "machine": info.machine,
        "benchmarks": [
            {"id": record.id, "title": record.title, "sizes": record.sizes, "seconds": record.seconds,
             "error": record.outcome.error, "notes": record.outcome.notes,
             "rows": [{"id": row.id, "what": row.what, "unit": row.unit, "ours": row.ours,
                       "baseline": row.baseline, "ratio": row.ratio, "target": row.target.text,
                       "result": row.verdict, "problem": row.problem} for row in record.outcome.rows]}
            for record in records
        ],
    }
