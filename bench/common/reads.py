"""B4 and B5: one products query through the API over HTTP, and the same Elasticsearch request
through the Python client, taken turn about on the same corpus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common.context import Run
from bench.common.graphql import graphql_client
from bench.common.measure import Latencies, alternating
from bench.common.server import serve
from read_model.indices import PRODUCTS
from read_model.products import _SORTS, ProductQuery, _query, aggregations


@dataclass(frozen=True)
class ReadCase:
    name: str
    graphql: str
    variables: Callable[[int], dict[str, Any]]
    # The same request in the read model's own terms, turned into the raw body below.
    query: Callable[[int], ProductQuery]


def search_body(query: ProductQuery) -> dict[str, Any]:
    """The request `ProductStore.search` sends for `query`, built from its own parts: the facets
    and the total the GraphQL query selects, as the resolver sets them."""
    body = {"query": _query(query), "sort": _SORTS[query.sort], "size": query.first + 1,
            "track_total_hits": query.count_total}
    if query.facets:
        body["aggs"] = aggregations(query.facets)
    return body


async def compare(run: Run, case: ReadCase, corpus: int, count: int, warm_up: int) -> tuple[Latencies, Latencies]:
    """Latencies of (ours over HTTP, the raw client) against a server on the corpus, after checking
    that both return the same hits."""
    prefix = await run.product_corpus(corpus)
    alias = PRODUCTS.alias(prefix)
    client = run.elasticsearch
    settings = run.settings(case.name.lower(), index_prefix=prefix)
    async with (serve(settings, run.log_path(case.name), worker=False,
                      profile_to=run.profile_file(f"{case.name}-server")) as served,
                graphql_client(served.graphql_url, connections=1) as api):

        async def ours(n: int) -> None:
            await api(case.graphql, case.variables(n))

        async def baseline(n: int) -> None:
            await client.search(index=alias, **search_body(case.query(n)))

        await _same_answer(await api(case.graphql, case.variables(0)),
                           await client.search(index=alias, **search_body(case.query(0))))
        return await alternating(ours, baseline, count, warm_up)


async def _same_answer(ours: dict[str, Any], raw: Any) -> None:
    """Guards the comparison: the baseline must do the same work, not an easier one."""
    products = ours["products"]
    ours_ids = [edge["node"]["id"] for edge in products["edges"]]
    raw_ids = [hit["_id"] for hit in raw["hits"]["hits"]][:len(ours_ids)]
    if products["totalCount"] != raw["hits"]["total"]["value"] or ours_ids != raw_ids:
        raise AssertionError(f"the API and the raw query disagree: {products['totalCount']} hits {ours_ids[:3]}... "
                             f"against {raw['hits']['total']['value']} hits {raw_ids[:3]}...")
