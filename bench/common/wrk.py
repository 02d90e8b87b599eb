"""Closed-loop HTTP load from wrk (W1, W2): a C load generator that keeps up with thousands of
requests a second on one thread, where a Python client would be the bottleneck. Debian's `wrk`
package; scripts/setup installs it. wrk runs `bodies.lua`, which makes every request unique and
tallies what each answer was, so that refusals and errors are never counted as throughput."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("bodies.lua")
# Placeholder in a body that wrk replaces with a token unique to the request (see bodies.lua).
UNIQUE = "@N@"
MISSING = "wrk is not installed: run scripts/setup, or `apt-get install wrk`"
TIMEOUT_S = 30
_MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1_000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something this parser does not understand."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    # Latency percentiles from --latency: 50, 75, 90 and 99, in ms.
    latency_ms: dict[int, float]
    non_2xx: int
    socket_errors: int
    # Completed answers by kind: a `__typename`, "errors" or "status-<code>" (see bodies.lua).
    answers: Counter[str]

    def per_second(self, kind: str) -> float:
        """Answers of one kind a second over the run."""
        return self.answers[kind] / self.seconds

    def summary(self) -> str:
        latency = ", ".join(f"p{q} {ms:.1f} ms" for q, ms in sorted(self.latency_ms.items()))
        answers = ", ".join(f"{count:,} {kind}" for kind, count in self.answers.most_common())
        return f"{self.requests:,} requests in {self.seconds:.1f} s ({answers}); latency {latency}"


def combined(results: list[WrkResult]) -> WrkResult:
    """Several runs as one: counts and seconds added up; each latency percentile the median of
    the runs' (wrk reports percentiles, not samples, so they cannot be merged exactly)."""
    answers: Counter[str] = Counter()
    for result in results:
        answers.update(result.answers)
    return WrkResult(
        requests=sum(result.requests for result in results), seconds=sum(result.seconds for result in results),
        latency_ms={q: statistics.median(result.latency_ms[q] for result in results) for q in results[0].latency_ms},
        non_2xx=sum(result.non_2xx for result in results),
        socket_errors=sum(result.socket_errors for result in results), answers=answers,
    )


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * _MS_PER_UNIT[unit]


def parse(output: str) -> WrkResult:
    """wrk's report with --latency, followed by the `answer <kind> <count>` lines of bodies.lua."""
    total = re.search(rf"(\d+) requests in {_TIME},", output)
    if total is None:
        raise WrkError(f"no 'requests in' line in wrk's output:\n{output}")
    latency = {int(q): _milliseconds(value, unit)
               for q, value, unit in re.findall(rf"^\s*(50|75|90|99)%\s+{_TIME}\s*$", output, re.MULTILINE)}
    if set(latency) != {50, 75, 90, 99}:
        raise WrkError(f"no latency distribution in wrk's output (run with --latency):\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    answers: Counter[str] = Counter()
    for kind, count in re.findall(r"^answer (\S+) (\d+)$", output, re.MULTILINE):
        answers[kind] += int(count)
    return WrkResult(
        requests=int(total[1]), seconds=_milliseconds(total[2], total[3]) / 1000, latency_ms=latency,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(count) for count in sockets.groups()) if sockets else 0, answers=answers,
    )


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError(MISSING)
    return path


async def wrk(url: str, bodies: Path, label: str, *, connections: int, seconds: int) -> WrkResult:
    """POST the bodies (one JSON document a line, see bodies.lua) from `connections` connections
    on one thread for `seconds`; `label` makes this run's unique tokens differ from other runs'."""
    if seconds < 1:
        raise ValueError("wrk runs for whole seconds, at least one")
    process = await asyncio.create_subprocess_exec(
        wrk_path(), "--threads", "1", "--connections", str(connections), "--duration", f"{seconds}s",
        "--timeout", f"{TIMEOUT_S}s", "--latency", "--script", str(LUA_SCRIPT), url, "--", str(bodies), label,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise WrkError(f"wrk exited with {process.returncode}:\n{text}")
    result = parse(text)
    if sum(result.answers.values()) != result.requests:
        raise WrkError(f"bodies.lua tallied {sum(result.answers.values()):,} answers of {result.requests:,}:\n{text}")
    return result
