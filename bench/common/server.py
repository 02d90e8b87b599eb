"""`storefront serve` as a subprocess on a free loopback port: the API runs on its own core, as in
production, and its memory can be read from /proc."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common.node import PROJECT_ROOT
from bench.common.profiling import server_arguments, write_session
from server.settings import Settings

STOREFRONT = str(Path(sys.executable).with_name("storefront"))
READY_TIMEOUT_S = 60.0
SUBSCRIPTIONS_OPEN = "storefront_subscriptions_open"
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Served:
    url: str
    pid: int
    # From spawning the process to the first 200 from /healthz.
    ready_after_s: float

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(settings: Settings) -> dict[str, str]:
    """The environment of a `storefront` process configured exactly as `settings`: none of the
    caller's STOREFRONT_* variables, and every setting that differs from its default."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("STOREFRONT_")}
    changed = settings.model_dump(mode="json", exclude_defaults=True)
    return {**inherited, **{f"STOREFRONT_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
                            for name, value in changed.items()}}


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc/<pid>/stat."""
    # The fields after the command name, which is in parentheses and may hold spaces: utime and
    # stime are the 14th and 15th of the line, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def spawned(command: Sequence[str], log: Path, env: dict[str, str] | None = None,
                  stop: signal.Signals = signal.SIGTERM) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process, output to `log`, that is always stopped again: `stop`, then SIGKILL after a
    grace period."""
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdout=sink, stderr=sink, cwd=PROJECT_ROOT)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(stop)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def serve(settings: Settings, log: Path, *, worker: bool, profile_to: Path | None = None
                ) -> AsyncIterator[Served]:
    """`storefront serve` (with its in-process sync worker or `--no-sync`), ready to answer.
    With `profile_to`, it runs under pyinstrument, which writes its profile there on exit."""
    port = free_port()
    command = [STOREFRONT, "serve", "--port", str(port), *([] if worker else ["--no-sync"])]
    stop = signal.SIGTERM
    session_file = None if profile_to is None else profile_to.with_suffix(".pyisession")
    if session_file is not None:
        command = [sys.executable, *server_arguments(session_file), *command]
        # uvicorn re-raises the signal it stopped on; pyinstrument survives SIGINT's KeyboardInterrupt
        # to write its profile, but not SIGTERM.
        stop = signal.SIGINT
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    async with spawned(command, log, environment(settings), stop) as process:
        await _wait_until_healthy(url, process, log)
        yield Served(url, process.pid, time.perf_counter() - started)
    if profile_to is not None and session_file is not None:
        write_session(session_file, profile_to)


@asynccontextmanager
async def serve_floor(log: Path, app: str = "bench.floor_server:app", env: dict[str, str] | None = None
                      ) -> AsyncIterator[Served]:
    """A floor server (`bench/floor_server.py` unless `app` names another) under uvicorn, as
    `storefront serve` runs (uvloop, httptools, no access log), ready to answer; `env` is added
    to its environment."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    async with spawned(command, log, None if env is None else {**os.environ, **env}) as process:
        await _wait_until_healthy(url, process, log)
        yield Served(url, process.pid, time.perf_counter() - started)


async def _wait_until_healthy(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.perf_counter() + READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.perf_counter() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(log)}")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet: uvicorn binds after the lifespan has started
            await asyncio.sleep(0.01)
    raise TimeoutError(f"the server did not answer /healthz within {READY_TIMEOUT_S:g} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def gauge(session: aiohttp.ClientSession, url: str, name: str) -> float:
    """One unlabelled metric from the server's /metrics."""
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise KeyError(name)


async def wait_for_gauge(session: aiohttp.ClientSession, url: str, name: str, expected: float,
                         timeout_s: float = 60.0) -> None:
    """Subscribing is not acknowledged in graphql-transport-ws: the server's count is the only sign."""
    deadline = time.perf_counter() + timeout_s
    while (value := await gauge(session, url, name)) != expected:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{name} stayed at {value:g}, not {expected:g}, for {timeout_s:g} s")
        await asyncio.sleep(0.02)
