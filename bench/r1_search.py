"""R1: search throughput, `products(search, first: 20)` with the category facet, under wrk's load
(8 connections) to `storefront serve --no-sync`, against the stack's read floor (the same types and
construction answering from memory, bench/read_floor_server.py) and against the same search body
sent straight to Elasticsearch's `_search`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.catalog import SEARCH_TERMS
from bench.common.context import Run
from bench.common.graphql import PRODUCT_FIELDS, graphql_client
from bench.common.load import Load, Loaded, Side, taking_turns, write_bodies
from bench.common.plots import bars
from bench.common.reads import search_body
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_least
from bench.common.server import Served, serve, serve_floor
from bench.common.wrk import wrk
from read_model.indices import PRODUCTS
from read_model.products import ProductQuery

CONNECTIONS = 8
PAGE = 20
FACETS = frozenset({"category"})
ANSWER = "ProductConnection"
RAW_ANSWER = "hits"  # bodies.lua's tally of an Elasticsearch search answer
SEARCH = f"""
query R1($search: String, $first: Int) {{
  products(search: $search, first: $first) {{
    __typename totalCount pageInfo {{ hasNextPage endCursor }}
    facets {{ category {{ value count }} }}
    edges {{ cursor node {{ {PRODUCT_FIELDS} }} }}
  }}
}}"""


@dataclass(frozen=True)
class Sizes:
    products: int
    seconds: int = 15  # of each side, split over the rounds
    warm_up_s: int = 3
    # A node just started searches at half speed for its first seconds (its JIT warming up).
    elasticsearch_warm_up_s: int = 10
    rounds: int = 3


async def run(run: Run, sizes: Sizes) -> Outcome:
    prefix = await run.product_corpus(sizes.products)
    shape = Load(CONNECTIONS, sizes.seconds, sizes.warm_up_s)
    bodies = write_bodies(run.work / "r1-bodies.txt", SEARCH, [{"search": term, "first": PAGE}
                                                               for term in SEARCH_TERMS])
    floor_env = {"R1_FLOOR_ELASTICSEARCH_URL": run.es_url, "R1_FLOOR_INDEX_PREFIX": prefix,
                 "R1_FLOOR_TERMS": json.dumps(SEARCH_TERMS), "R1_FLOOR_FIRST": str(PAGE),
                 "R1_FLOOR_FACETS": json.dumps(sorted(FACETS))}
    raw = _raw(run, prefix)
    await wrk(raw.url, raw.bodies, "rawwarm", connections=CONNECTIONS, seconds=sizes.elasticsearch_warm_up_s)
    settings = run.settings("r1", index_prefix=prefix)
    async with (serve_floor(run.log_path("r1-floor"), "bench.read_floor_server:app", floor_env) as floor_served,
                serve(settings, run.log_path("r1"), worker=False, profile_to=run.profile_file("R1-server")) as served):
        floor_answers = await _answers(floor_served)
        ours_answers = await _answers(served)
        loaded = await taking_turns([raw, Side("floor", floor_served.graphql_url, bodies, floor_served.pid),
                                     Side("ours", served.graphql_url, bodies, served.pid)], shape, sizes.rounds)
    problem = None if ours_answers == floor_answers else "the API and the floor answer differently"
    return _outcome(run, sizes, loaded["ours"], loaded["floor"], loaded["raw"], problem)


async def _answers(served: Served) -> list[object]:
    """Each term's answer, to check that ours and the floor do the same work."""
    async with graphql_client(served.graphql_url, connections=1) as api:
        return [await api(SEARCH, {"search": term, "first": PAGE}) for term in SEARCH_TERMS]


def _raw(run: Run, prefix: str) -> Side:
    """wrk POSTing the body the resolver sends to `_search` on the products alias."""
    bodies = run.work / "r1-raw-bodies.txt"
    bodies.write_text("".join(json.dumps(search_body(ProductQuery(search=term, first=PAGE, facets=FACETS)),
                                         separators=(",", ":")) + "\n" for term in SEARCH_TERMS))
    return Side("raw", f"{run.es_url}/{PRODUCTS.alias(prefix)}/_search", bodies)


def _outcome(run: Run, sizes: Sizes, ours: Loaded, floor: Loaded, raw: Loaded, problem: str | None) -> Outcome:
    rate, floor_rate = ours.wrk.per_second(ANSWER), floor.wrk.per_second(ANSWER)
    raw_rate = raw.wrk.per_second(RAW_ANSWER)
    for side, kind in ((ours, ANSWER), (floor, ANSWER), (raw, RAW_ANSWER)):
        if problem is None and (set(side.wrk.answers) != {kind} or side.wrk.socket_errors):
            problem = f"not every answer was a {kind}: {dict(side.wrk.answers)}, {side.wrk.socket_errors} socket errors"
    outcome = Outcome(rows=[
        Row("R1", "products(search) throughput vs the stack's read floor", "requests/s", rate, floor_rate,
            ratio_at_least(0.8), problem),
        Row("R1", "products(search) vs raw Elasticsearch _search", "requests/s", rate, raw_rate, REPORT_ONLY, problem),
        Row("R1", "the read floor vs raw Elasticsearch _search", "requests/s", floor_rate, raw_rate, REPORT_ONLY),
        Row("R1", "API CPU per search", "ms", ours.cpu_ms_per(ANSWER), floor.cpu_ms_per(ANSWER), REPORT_ONLY),
        Row("R1", "latency p99 (wrk)", "ms", ours.wrk.latency_ms[99], floor.wrk.latency_ms[99], REPORT_ONLY),
    ])
    outcome.notes += [
        f"Load: wrk, one thread, {CONNECTIONS} connections, closed loop; raw, the floor and ours take turns, "
        f"{sizes.seconds // sizes.rounds} s each, for {sizes.rounds} rounds (the order reversed every other "
        f"round), after warming Elasticsearch up for {sizes.elasticsearch_warm_up_s} s and each side for "
        f"{sizes.warm_up_s} s; latency percentiles are the medians of the rounds'. Cycling {len(SEARCH_TERMS)} "
        f"search terms, {PAGE} hits, totalCount, the category facet and every product "
        f"field. Ours: `storefront serve --no-sync`: {ours.wrk.summary()}.",
        f"Floor: `bench/read_floor_server.py` (uvicorn + starlette + strawberry with ParserCache and "
        f"ValidationCache and stock execution, the served types, the resolver's `product_connection`, pages read "
        f"once at startup): {floor.wrk.summary()}. Both answered the same for every term.",
        f"Raw: wrk POSTing the resolver's body to `_search` on the products alias: {raw.wrk.summary()}.",
        f"CPU: the server process's utime + stime over the measured run: ours {ours.cpu_s:.1f} s, floor "
        f"{floor.cpu_s:.1f} s; Elasticsearch shares the machine's cores with both.",
    ]
    outcome.plots.append(bars(run.out / "r1-throughput.png", f"R1: products(search) per second, {CONNECTIONS} "
                              "connections", {"ours": rate, "the stack's read floor": floor_rate,
                                              "raw Elasticsearch": raw_rate}, "per second"))
    return outcome


BENCHMARK = Benchmark("R1", "search throughput", full=Sizes(products=100_000),
                      smoke=Sizes(products=2_000, seconds=1, warm_up_s=1, elasticsearch_warm_up_s=1, rounds=1),
                      run=run)
