"""The floor of our read path (R1's baseline): uvicorn + starlette + strawberry with strawberry's
ParserCache and ValidationCache and its stock execution, serving `products(search, first)` with the
served types and the resolver's own construction of the answer (`schema.query.product_connection`)
from pages held in memory. No Elasticsearch call, no middleware, no limits: what a search answer
costs the stack before our code runs. The pages are read once at startup through `ProductStore`,
for the terms and corpus R1 passes in `R1_FLOOR_*` (see `bench.common.server.serve_floor`)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator

import strawberry
from elasticsearch import AsyncElasticsearch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from read_model.products import ProductPage, ProductQuery, ProductStore
from schema.query import product_connection
from schema.types import ProductConnection

CACHE_SIZE = 512
PAGES: dict[str | None, ProductPage] = {}


@strawberry.type
class Query:
    @strawberry.field
    def products(self, search: str | None = None, first: int | None = 20) -> ProductConnection:
        return product_connection(PAGES[search])


schema = strawberry.Schema(query=Query, extensions=[lambda: ParserCache(maxsize=CACHE_SIZE),
                                                    lambda: ValidationCache(maxsize=CACHE_SIZE)])


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    first = int(os.environ["R1_FLOOR_FIRST"])
    facets = frozenset(json.loads(os.environ["R1_FLOOR_FACETS"]))
    async with AsyncElasticsearch(os.environ["R1_FLOOR_ELASTICSEARCH_URL"]) as client:
        store = ProductStore(client, os.environ["R1_FLOOR_INDEX_PREFIX"])
        for term in json.loads(os.environ["R1_FLOOR_TERMS"]):
            PAGES[term] = await store.search(ProductQuery(search=term, first=first, facets=facets))
    yield


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"]), Route("/healthz", healthz)],
                lifespan=lifespan)
