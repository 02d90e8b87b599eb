"""The supervisor of background tasks, with real asyncio tasks and a real metrics registry."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import create_async_engine

from server.supervision import Backoff, Supervisor
from tests.support import unused_port
from write_model.availability import is_unavailable

QUICK = Backoff(initial_s=0.01, max_s=0.01)
BOUND_S = 5.0


def _up(registry: CollectorRegistry, task: str) -> float | None:
    return registry.get_sample_value("storefront_background_task_up", {"task": task})


def _restarts(registry: CollectorRegistry, task: str) -> float | None:
    return registry.get_sample_value("storefront_background_task_restarts_total", {"task": task})


def test_backoff_doubles_up_to_its_cap_with_at_most_half_again_of_jitter() -> None:
    backoff = Backoff(initial_s=0.1, max_s=5.0)
    assert [backoff.delay_s(n, jitter=0) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])
    assert backoff.delay_s(30, jitter=0) == 5.0
    assert backoff.delay_s(30, jitter=1) == 7.5


async def test_a_failed_task_is_down_until_it_runs_again() -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(registry, Backoff(initial_s=0.2, max_s=0.2))
    failed, running_again = asyncio.Event(), asyncio.Event()

    async def fails_once() -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("disk gone\n[SQL: SELECT secret]")
        running_again.set()
        await asyncio.Event().wait()

    supervisor.start("feed", fails_once)
    await failed.wait()
    assert supervisor.problems() == ["feed: down, restarting: RuntimeError: disk gone"]
    assert (_up(registry, "feed"), _restarts(registry, "feed")) == (0, 0)

    async with asyncio.timeout(BOUND_S):
        await running_again.wait()
    assert supervisor.problems() == []
    assert (_up(registry, "feed"), _restarts(registry, "feed")) == (1, 1)
    await supervisor.stop()


async def test_a_task_that_returns_without_being_stopped_is_restarted() -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(registry, QUICK)
    runs = 0
    third_run = asyncio.Event()

    async def returns_twice() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            third_run.set()
            await asyncio.Event().wait()

    supervisor.start("follower", returns_twice)
    async with asyncio.timeout(BOUND_S):
        await third_run.wait()
    assert _restarts(registry, "follower") == 2
    await supervisor.stop()


async def test_cancellation_at_shutdown_is_no_failure(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(registry, QUICK)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def runs_until_cancelled() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    supervisor.start("monitor", runs_until_cancelled)
    await started.wait()
    with caplog.at_level(logging.WARNING, logger="server.supervision"):
        await supervisor.stop()

    assert cancelled.is_set()
    assert _restarts(registry, "monitor") == 0 and supervisor.problems() == []
    assert [r for r in caplog.records if r.name == "server.supervision"] == []


async def test_stop_lets_a_stoppable_task_finish_and_cancels_one_that_overruns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(CollectorRegistry(), QUICK)
    asked, finished, ignoring, overran = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def finishes_its_batch() -> None:
        await asyncio.wait_for(asked.wait(), BOUND_S)
        finished.set()

    async def ignores_stop() -> None:
        ignoring.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            overran.set()
            raise

    supervisor.start("worker", finishes_its_batch, stop=asked.set)
    supervisor.start("stubborn", ignores_stop, stop=lambda: None)
    await ignoring.wait()
    with caplog.at_level(logging.WARNING, logger="server.supervision"):
        await supervisor.stop(grace_s=0.2)

    assert finished.is_set() and overran.is_set()
    logged = [record.getMessage() for record in caplog.records if record.name == "server.supervision"]
    assert logged == ["background task stubborn did not stop within 0.2s; cancelled"]


async def test_stop_does_not_wait_out_a_backoff() -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(registry, Backoff(initial_s=60, max_s=60))
    failed = asyncio.Event()

    async def fails() -> None:
        failed.set()
        raise OSError("unreachable")

    supervisor.start("worker", fails, stop=lambda: None)
    await failed.wait()
    started = time.monotonic()
    await supervisor.stop()

    assert time.monotonic() - started < 1
    assert _restarts(registry, "worker") == 0


async def test_a_streak_logs_its_traceback_once_and_a_healthy_run_ends_the_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(CollectorRegistry(), Backoff(initial_s=0.01, max_s=0.01, reset_after_s=0.1))
    runs = 0
    last_run = asyncio.Event()

    async def fails_thrice_then_runs_healthy_then_fails() -> None:
        nonlocal runs
        runs += 1
        if runs == 4:
            await asyncio.sleep(0.2)  # longer than `reset_after_s`: a healthy run
        if runs == 5:
            last_run.set()
            await asyncio.Event().wait()
        raise OSError("gone")

    with caplog.at_level(logging.WARNING, logger="server.supervision"):
        supervisor.start("feed", fails_thrice_then_runs_healthy_then_fails)
        async with asyncio.timeout(BOUND_S):
            await last_run.wait()
        await supervisor.stop()

    records = [r for r in caplog.records if r.name == "server.supervision"]
    assert [r.levelname for r in records] == ["ERROR", "WARNING", "WARNING", "ERROR"]
    assert records[0].exc_info is not None and records[3].exc_info is not None
    assert "failed again (3 in a row: OSError: gone)" in records[2].getMessage()


async def test_an_outage_is_logged_in_a_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """A store that is away (here a PostgreSQL port nothing listens on) is expected, not a bug."""
    supervisor = Supervisor(CollectorRegistry(), QUICK, is_outage=is_unavailable)
    engine = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{unused_port()}/none")
    tries = 0
    second_try = asyncio.Event()

    async def reads_the_outbox() -> None:
        nonlocal tries
        tries += 1
        if tries == 2:
            second_try.set()
        async with engine.connect():
            pass

    with caplog.at_level(logging.WARNING, logger="server.supervision"):
        supervisor.start("change-feed", reads_the_outbox)
        async with asyncio.timeout(BOUND_S):
            await second_try.wait()
        await supervisor.stop()
    await engine.dispose()

    records = [r for r in caplog.records if r.name == "server.supervision"]
    assert records and all(r.levelname == "WARNING" and r.exc_info is None for r in records)
    assert "background task change-feed cannot reach a store (" in records[0].getMessage()
