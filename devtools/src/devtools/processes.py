"""Detached processes of the dev tooling (Elasticsearch nodes, the cluster's API processes, workers
and HAProxy): started in a session of their own with their output in a log file, so that they
outlive the command that started them, and recognised again later by pid *and* command line (a
pid alone may have been reused). Linux only (``/proc``, ``posix_spawn``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

POLL_S = 0.1


def spawn(argv: Sequence[str], log: Path, env: Mapping[str, str], *, truncate: bool = False) -> int:
    """Start ``argv`` detached (own session, stdin from /dev/null, stdout and stderr appended to
    ``log``, or written over with ``truncate``); return its pid.

    posix_spawn rather than subprocess.Popen: a Popen object dropped while its child still runs
    emits a ResourceWarning, which the test suite turns into an error.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    return os.posix_spawn(
        argv[0], list(argv), dict(env),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND),
             0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,  # Ctrl-C in the caller's terminal must not reach it
    )


def running(pid: int | None, argv: Sequence[str]) -> bool:
    """Whether ``pid`` still runs ``argv`` (as started by :func:`spawn`; ``argv[0]`` an executable
    file, not a script, whose command line would start with its interpreter)."""
    return pid is not None and alive(pid) and cmdline(pid) == list(argv)


def stop(pid: int, argv: Sequence[str], timeout_s: float = 30.0) -> bool:
    """SIGTERM (a graceful stop), then SIGKILL if it is still there after ``timeout_s``; return
    whether it was running."""
    if not running(pid, argv):
        return False
    send_signal(pid, signal.SIGTERM)
    if not wait_for_exit(pid, timeout_s):
        send_signal(pid, signal.SIGKILL)
        wait_for_exit(pid, 10.0)
    return True


def kill(pid: int, argv: Sequence[str]) -> bool:
    """SIGKILL, as a crash would end it; return whether it was running."""
    if not running(pid, argv):
        return False
    send_signal(pid, signal.SIGKILL)
    wait_for_exit(pid, 10.0)
    return True


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        os.kill(pid, signum)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; reaps it first if it is an exited child of this process."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier command): fine
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has yet to reap it


def cmdline(pid: int) -> list[str]:
    """The command line ``pid`` runs, argument by argument; empty once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
