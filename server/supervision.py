"""Supervision of the process's background tasks: restarted after any failure, visible while down.

A task fails when it raises or returns without being asked to stop; either way it is logged,
reported by `problems()` (readiness) and the `storefront_background_task_up` gauge until it
runs again, and restarted after an exponential backoff. Cancellation (shutdown) is no failure.
A failure the caller calls an outage (a store away for now) is logged in one line, never with a
traceback: it is expected, and says nothing about the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)

Run = Callable[[], Awaitable[None]]
Stop = Callable[[], None]
IsOutage = Callable[[Exception], bool]


@dataclass(frozen=True)
class Backoff:
    """Waits before restarts: doubling from `initial_s` up to `max_s`, with up to half again of
    jitter so processes that failed together do not retry together. A task that ran for
    `reset_after_s` before failing counts as healthy: its next restart starts from `initial_s`."""

    initial_s: float = 0.1
    max_s: float = 5.0
    reset_after_s: float = 30.0

    def delay_s(self, failures: int, jitter: float) -> float:
        """Wait after the `failures`-th failure in a row; `jitter` is in [0, 1]."""
        base: float = min(self.max_s, self.initial_s * 2.0 ** (failures - 1))
        return base * (1 + jitter / 2)


@dataclass
class _Task:
    name: str
    run: Run
    stop: Stop | None
    failures: int = 0
    down_reason: str | None = None
    handle: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(self, registry: CollectorRegistry, backoff: Backoff = Backoff(),
                 is_outage: IsOutage = lambda _failure: False) -> None:
        self._backoff = backoff
        self._is_outage = is_outage
        self._tasks: dict[str, _Task] = {}
        self._stopping = asyncio.Event()
        self._up = Gauge("storefront_background_task_up", "1 while the background task runs, 0 while it is down.",
                         ["task"], registry=registry)
        self._restarts = Counter("storefront_background_task_restarts", "Restarts of a background task after a "
                                 "failure.", ["task"], registry=registry)

    def start(self, name: str, run: Run, stop: Stop | None = None) -> None:
        """Run `run()` under supervision. `stop`, if given, asks it to finish and return on shutdown
        (it is cancelled otherwise, or when it does not finish in time)."""
        task = self._tasks[name] = _Task(name, run, stop)
        self._restarts.labels(name)
        task.handle = asyncio.create_task(self._keep_running(task), name=name)

    def problems(self) -> list[str]:
        """A reason for each task that is down, naming the task."""
        return [f"{task.name}: down, restarting: {task.down_reason}" for task in self._tasks.values()
                if task.down_reason is not None]

    async def stop(self, grace_s: float = 10.0) -> None:
        """Ask stoppable tasks to finish within `grace_s`; cancel the rest, and those that overrun."""
        self._stopping.set()
        handles = [task.handle for task in self._tasks.values() if task.handle is not None]
        for task in self._tasks.values():
            if task.stop is not None:
                task.stop()
            elif task.handle is not None:
                task.handle.cancel()
        if not handles:
            return
        _done, overran = await asyncio.wait(handles, timeout=grace_s)
        for handle in overran:
            log.warning("background task %s did not stop within %ss; cancelled", handle.get_name(), grace_s)
            handle.cancel()
        await asyncio.gather(*handles, return_exceptions=True)

    async def _keep_running(self, task: _Task) -> None:
        while not self._stopping.is_set():
            self._mark_up(task)
            started = time.monotonic()
            failure = await _outcome(task.run)
            if failure is None and self._stopping.is_set():
                return
            delay_s = self._mark_down(task, failure, ran_s=time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._stopping.wait()
            if not self._stopping.is_set():
                self._restarts.labels(task.name).inc()

    def _mark_up(self, task: _Task) -> None:
        task.down_reason = None
        self._up.labels(task.name).set(1)

    def _mark_down(self, task: _Task, failure: Exception | None, ran_s: float) -> float:
        """Record and log the failure; returns how long to wait before the restart."""
        task.failures = 1 if ran_s >= self._backoff.reset_after_s else task.failures + 1
        task.down_reason = "returned unexpectedly" if failure is None else _summary(failure)
        self._up.labels(task.name).set(0)
        delay_s = self._backoff.delay_s(task.failures, random.random())
        if failure is not None and self._is_outage(failure):
            log.warning("background task %s cannot reach a store (%s); restarting in %.1fs", task.name,
                        task.down_reason, delay_s)
        elif task.failures == 1:  # the traceback once; a long failure then logs one line per restart
            log.error("background task %s failed; restarting in %.1fs", task.name, delay_s, exc_info=failure)
        else:
            log.warning("background task %s failed again (%s in a row: %s); restarting in %.1fs", task.name,
                        task.failures, task.down_reason, delay_s)
        return delay_s


async def _outcome(run: Run) -> Exception | None:
    """What ended a run: its exception, or None when it returned. Cancellation propagates."""
    try:
        await run()
    except Exception as error:  # any failure is restarted; what it was is logged and reported
        return error
    return None


def _summary(failure: BaseException) -> str:
    """The error's type and first line: driver errors go on with the statement and its parameters."""
    first_line = next(iter(str(failure).splitlines()), "")
    return f"{type(failure).__name__}: {first_line}"
