"""B4: `products(search)` with 20 hits and facets over a large catalog, p50/p99 over HTTP, against
the same Elasticsearch request through the Python client."""

from __future__ import annotations

from dataclasses import dataclass

from bench.common.benchmark import Benchmark
from bench.common.catalog import SEARCH_TERMS
from bench.common.context import Run
from bench.common.graphql import SEARCH_PRODUCTS
from bench.common.plots import latency_cdf
from bench.common.reads import ReadCase, compare
from bench.common.results import REPORT_ONLY, Outcome, Row, ratio_at_most
from read_model.products import ProductQuery

PAGE = 20
CASE = ReadCase(
    name="B4",
    graphql=SEARCH_PRODUCTS,
    variables=lambda n: {"search": SEARCH_TERMS[n % len(SEARCH_TERMS)], "first": PAGE},
    query=lambda n: ProductQuery(search=SEARCH_TERMS[n % len(SEARCH_TERMS)], first=PAGE),
)


@dataclass(frozen=True)
class Sizes:
    products: int
    queries: int
    warm_up: int = 20


async def run(run: Run, sizes: Sizes) -> Outcome:
    ours, baseline = await compare(run, CASE, sizes.products, sizes.queries, sizes.warm_up)
    outcome = Outcome(rows=[
        Row("B4", "products(search) p50", "ms", ours.p50_ms, baseline.p50_ms, ratio_at_most(1.8)),
        Row("B4", "products(search) p99", "ms", ours.p99_ms, baseline.p99_ms, REPORT_ONLY),
    ])
    outcome.notes += [
        f"Corpus: {sizes.products:,} products bulk-loaded with the project's mapping and projection.",
        f"Ours: `products(search, first: {PAGE})` with totalCount, facets and every product field, over HTTP to "
        f"`storefront serve --no-sync`, one request at a time: {ours.summary()}.",
        f"Baseline: the body `ProductStore.search` sends (query, sort, size {PAGE + 1}, facets, total hits), "
        f"through `AsyncElasticsearch.search`: {baseline.summary()}. Searches cycle through "
        f"{len(SEARCH_TERMS)} terms ({', '.join(SEARCH_TERMS[:4])}, ...), taken turn about with ours; both "
        "sides were checked to return the same hits.",
    ]
    outcome.plots.append(latency_cdf(run.out / "b4-search.png", "B4: products(search), 20 hits + facets",
                                     {"ours (GraphQL over HTTP)": ours.ms, "baseline (Python client)": baseline.ms}))
    return outcome


BENCHMARK = Benchmark("B4", "products(search) latency", full=Sizes(products=100_000, queries=300),
                      smoke=Sizes(products=2_000, queries=20, warm_up=5), run=run)
