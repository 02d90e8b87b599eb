"""The parser of wrk's report (bench/common/wrk.py): W1 and W2 judge throughput by it."""

from __future__ import annotations

import pytest

from bench.common.wrk import WrkError, parse

# wrk 4.1 with --latency and bench/common/bodies.lua, as printed against an overloaded server.
REPORT = """Running 15s test @ http://127.0.0.1:40123/graphql
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   101.52ms   20.10ms   1.02s    90.00%
    Req/Sec   157.30     20.11   200.00     70.00%
  Latency Distribution
     50%  850.00us
     75%   99.50ms
     90%  120.25ms
     99%    1.02s
  2361 requests in 15.01s, 0.85MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    157.30
Transfer/sec:     57.92KB
answer ProductAccepted 2350
answer errors 7
answer status-413 4
"""


def test_reads_totals_percentiles_failures_and_the_tally() -> None:
    result = parse(REPORT)
    assert (result.requests, result.seconds) == (2361, 15.01)
    assert result.latency_ms == {50: 0.85, 75: 99.5, 90: 120.25, 99: 1020.0}
    assert (result.non_2xx, result.socket_errors) == (4, 5)
    assert result.answers == {"ProductAccepted": 2350, "errors": 7, "status-413": 4}
    assert result.per_second("ProductAccepted") == pytest.approx(2350 / 15.01)


def test_a_run_that_took_minutes_is_read_in_seconds() -> None:
    assert parse(REPORT.replace("in 15.01s,", "in 1.50m,")).seconds == 90.0


def test_output_without_a_total_is_refused() -> None:
    with pytest.raises(WrkError, match="requests in"):
        parse("unable to connect to 127.0.0.1:40123 Connection refused\n")


def test_output_without_latency_distribution_is_refused() -> None:
    without = "\n".join(line for line in REPORT.splitlines() if "%  " not in line or "Stdev" in line)
    with pytest.raises(WrkError, match="--latency"):
        parse(without)
