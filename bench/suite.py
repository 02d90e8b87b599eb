"""`python -m bench`: runs the selected benchmarks, prints the table, writes the report."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    b1_worker,
    b2_backlog,
    b4_search,
    b5_page,
    b8_fanout,
    b9_startup,
    b10_validation,
    c1_haproxy,
    p1_postgres_create,
    p2_postgres_lag,
    r1_search,
    v1_verify,
    w1_create,
    w2_orders,
    w3_lag,
)
from bench.common.benchmark import Benchmark, describe
from bench.common.context import Run
from bench.common.node import PROJECT_ROOT, ensure_node, stop_node
from bench.common.report import Record, RunInfo, table, write
from bench.common.results import Outcome

# W1-W3 (the write path against the stack's floor and raw sqlite3) replaced B6, B7 and B3.
BENCHMARKS: list[Benchmark[Any]] = [
    b1_worker.BENCHMARK, b2_backlog.BENCHMARK, b4_search.BENCHMARK, b5_page.BENCHMARK, b8_fanout.BENCHMARK,
    b9_startup.BENCHMARK, b10_validation.BENCHMARK, r1_search.BENCHMARK, w1_create.BENCHMARK, w2_orders.BENCHMARK,
    w3_lag.BENCHMARK, v1_verify.BENCHMARK, c1_haproxy.BENCHMARK, p1_postgres_create.BENCHMARK,
    p2_postgres_lag.BENCHMARK,
]
# A benchmark that runs past this is stopped and reported as failed: load never runs unbounded.
TIME_LIMIT_S = {"smoke": 120.0, "full": 300.0}


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every selected benchmark ran, whether or not it met its target (misses are
    marked in the table); exit 1 when one failed to run."""
    parser = _parser()
    args = parser.parse_args(argv)
    by_id = {benchmark.id: benchmark for benchmark in BENCHMARKS}
    unknown = set(args.only or []) - set(by_id)
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}; there are {', '.join(by_id)}")
    chosen = [by_id[name] for name in args.only] if args.only else BENCHMARKS
    try:
        overrides = _overrides(args.set, by_id)
        sizes = {benchmark.id: benchmark.sizes(args.smoke, overrides.get(benchmark.id, {})) for benchmark in chosen}
    except ValueError as error:
        parser.error(str(error))
    out = args.out.resolve()  # servers under --profile write into it from their own working folder
    out.mkdir(parents=True, exist_ok=True)
    _allow_many_connections()
    es_url, started_node = ensure_node()
    try:
        with tempfile.TemporaryDirectory(prefix="storefront-bench-") as work:
            run = Run(smoke=args.smoke, profile=args.profile, out=out, work=Path(work), es_url=es_url)
            records, info = asyncio.run(_run_all(run, chosen, sizes))
    finally:
        if started_node:
            stop_node()
    report = write(out, info, records)
    print(table(records))
    print(f"\n{info.mode} run took {info.seconds / 60:.1f} min; report: {report}")
    return 1 if any(record.outcome.error for record in records) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every benchmark works")
    parser.add_argument("--only", type=lambda text: [part.strip().upper() for part in text.split(",")],
                        help="comma-separated ids, e.g. B1,B4")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results",
                        help="folder for REPORT.md, results.json and the plots (default: bench-results/)")
    parser.add_argument("--set", action="append", default=[], metavar="ID.SIZE=VALUE",
                        help="change one size, e.g. B1.events=20000 (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="profile our side of each benchmark with pyinstrument (slows it down)")
    return parser


def _overrides(settings: list[str], by_id: dict[str, Benchmark[Any]]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        benchmark, _, size = name.partition(".")
        if benchmark.upper() not in by_id or not size or not value:
            raise ValueError(f"--set {setting}: expected ID.SIZE=VALUE with an id among {', '.join(by_id)}")
        overrides.setdefault(benchmark.upper(), {})[size] = value
    return overrides


def _allow_many_connections() -> None:
    """B8 holds a thousand sockets in this process and in the server it starts (which inherits the
    limit); many systems allow a process only 1,024 open files unless it asks for more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8_192 if hard == resource.RLIM_INFINITY else min(hard, 8_192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _run_all(run: Run, chosen: list[Benchmark[Any]], sizes: dict[str, Any]) -> tuple[list[Record], RunInfo]:
    started, clock = datetime.now(UTC), time.perf_counter()
    mode = "smoke" if run.smoke else "full"
    records = []
    try:
        machine = await _machine(run)
        for benchmark in chosen:
            print(f"{benchmark.id} {benchmark.title} ({describe(sizes[benchmark.id])}) ...", flush=True)
            records.append(await _run_one(run, benchmark, sizes[benchmark.id], TIME_LIMIT_S[mode]))
    finally:
        await run.close()
    info = RunInfo(mode, started.strftime("%Y-%m-%d %H:%M UTC"), time.perf_counter() - clock, _commit(), machine)
    return records, info


async def _run_one(run: Run, benchmark: Benchmark[Any], sizes: Any, limit_s: float) -> Record:
    clock = time.perf_counter()
    profiles_before = len(run.profiles)
    try:
        async with asyncio.timeout(limit_s):
            outcome = await benchmark.run(run, sizes)
    except Exception:  # report the failure and go on with the other benchmarks
        outcome = Outcome(error=traceback.format_exc())
        print(outcome.error, flush=True)
    outcome.profiles = [path for path in run.profiles[profiles_before:] if path.exists()]
    return Record(benchmark.id, benchmark.title, describe(sizes), time.perf_counter() - clock, outcome)


async def _machine(run: Run) -> str:
    # Node info rather than GET /, which the dev node does not serve.
    nodes = (await run.elasticsearch.nodes.info(node_id="_local", filter_path="nodes.*.version"))["nodes"]
    versions = ", ".join(sorted({node["version"] for node in nodes.values()}))
    return (f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
            f"Elasticsearch {versions}")


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit}{' with local changes' if git('status', '--porcelain') else ''}"
