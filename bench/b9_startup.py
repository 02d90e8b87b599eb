"""B9: start-up, from spawning `storefront serve` to its first 200 on /healthz, against a bare
interpreter importing the three libraries the server is built on. Reported, no target."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.context import Run
from bench.common.plots import bars
from bench.common.results import REPORT_ONLY, Outcome, Row
from bench.common.server import serve

IMPORTS = "import strawberry, elasticsearch, sqlmodel"


@dataclass(frozen=True)
class Sizes:
    starts: int


async def run(run: Run, sizes: Sizes) -> Outcome:
    settings = run.settings("b9")
    log = run.log_path("b9")
    # The first start creates the SQLite schema and the indices; later ones find them, as a restart does.
    async with serve(settings, log, worker=True) as first:
        cold = first.ready_after_s
    warm = []
    for _ in range(sizes.starts):
        async with serve(settings, log, worker=True) as served:
            warm.append(served.ready_after_s)
    imports = [await _import_seconds() for _ in range(sizes.starts)]
    ours, baseline = statistics.median(warm) * 1000, statistics.median(imports) * 1000
    outcome = Outcome(rows=[Row("B9", "start-up until /healthz answers", "ms", ours, baseline, REPORT_ONLY)])
    outcome.notes += [
        f"Ours: median of {sizes.starts} restarts of `storefront serve` (schema and indices in place) from spawning "
        f"the process to the first 200 from /healthz; the lifespan migrates and checks the indices before "
        f"uvicorn binds. The first start, which also created them, took {cold * 1000:,.0f} ms.",
        f"Baseline: median of {sizes.starts} runs of `python -c \"{IMPORTS}\"`.",
    ]
    outcome.plots.append(bars(run.out / "b9-startup.png", "B9: start-up (median)",
                              {"ours (storefront serve)": ours, "baseline (imports only)": baseline}, "ms"))
    return outcome


async def _import_seconds() -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", IMPORTS)
    if await process.wait() != 0:
        raise RuntimeError(f"`{IMPORTS}` failed")
    return time.perf_counter() - started


BENCHMARK = Benchmark("B9", "start-up", full=Sizes(starts=5), smoke=Sizes(starts=1), run=run)
