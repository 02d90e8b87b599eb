"""Progress of long commands: a bar on a terminal, plain lines for logs and pipes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress, TaskID

Report = Callable[[str, int, int], None]
_LINE_EVERY = 0.1  # a plain line each time another tenth is done


@contextmanager
def progress_reporter(unit: str = "documents") -> Iterator[Report]:
    """Yields report(name, done, total), counting `unit`."""
    if not sys.stdout.isatty():
        yield _plain_lines(unit)
        return
    with Progress() as bar:
        tasks: dict[str, TaskID] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        yield report


def _plain_lines(unit: str) -> Report:
    printed: dict[str, float] = {}

    def report(name: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if name not in printed or share >= printed[name] + _LINE_EVERY or (done == total and printed[name] < 1):
            printed[name] = share
            print(f"{name}: {done}/{total} {unit} ({share:.0%})", flush=True)

    return report
