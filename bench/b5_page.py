"""B5: `products(first: 100)`, where serializing a hundred products dominates, against the same
Elasticsearch request through the Python client."""

from __future__ import annotations

from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.context import Run
from bench.common.graphql import PAGE_PRODUCTS
from bench.common.plots import latency_cdf
from bench.common.reads import ReadCase, compare
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_most
from read_model.products import ProductQuery

PAGE = 100
CASE = ReadCase(name="B5", graphql=PAGE_PRODUCTS, variables=lambda _n: {"first": PAGE},
                query=lambda _n: ProductQuery(first=PAGE, facets=frozenset()))


@dataclass(frozen=True)
class Sizes:
    products: int
    queries: int
    warm_up: int = 20


async def run(run: Run, sizes: Sizes) -> Outcome:
    ours, baseline = await compare(run, CASE, sizes.products, sizes.queries, sizes.warm_up)
    outcome = Outcome(rows=[
        Row("B5", "products(first: 100) p50", "ms", ours.p50_ms, baseline.p50_ms, ratio_at_most(2)),
        Row("B5", "products(first: 100) p99", "ms", ours.p99_ms, baseline.p99_ms, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Ours: `products(first: {PAGE})` with every product field and a cursor per edge, over HTTP to "
        f"`storefront serve --no-sync` on the {sizes.products:,}-product corpus: {ours.summary()}.",
        f"Baseline: the same request body (match_all, sort, size {PAGE + 1}, total hits; no aggregations, as "
        f"the query selects no facets) through `AsyncElasticsearch.search`: {baseline.summary()}.",
    ]
    outcome.plots.append(latency_cdf(run.out / "b5-page.png", "B5: products(first: 100)",
                                     {"ours (GraphQL over HTTP)": ours.ms, "baseline (Python client)": baseline.ms}))
    return outcome


BENCHMARK = Benchmark("B5", "products(first: 100) latency", full=Sizes(products=100_000, queries=200),
                      smoke=Sizes(products=2_000, queries=20, warm_up=5), run=run)
