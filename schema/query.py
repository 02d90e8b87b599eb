"""Query resolvers. They read only from the Elasticsearch read model."""

from __future__ import annotations

import strawberry

from read_model.products import ProductOrder, ProductQuery
from schema.consistency import catch_up, encode_position
from schema.context import Context
from schema.failures import BadUserInput
from schema.inputs import ProductFilter
from schema.types import (
    FacetBucket,
    PageInfo,
    Product,
    ProductConnection,
    ProductEdge,
    ProductFacets,
    ProductSort,
    SyncStatus,
)

Info = strawberry.Info[Context, None]


@strawberry.type
class Query:
    @strawberry.field
    async def product(self, info: Info, id: strawberry.ID, consistent_with: str | None = None) -> Product | None:
        await catch_up(info.context, consistent_with)
        document = await info.context.products.get(id)
        return Product.from_document(document) if document else None

    @strawberry.field
    async def products(
        self,
        info: Info,
        search: str | None = None,
        filter: ProductFilter | None = None,
        sort: ProductSort | None = ProductSort.RELEVANCE,
        first: int | None = 20,
        after: str | None = None,
        consistent_with: str | None = None,
    ) -> ProductConnection:
        page_size = _page_size(first, info.context.max_page_size)
        await catch_up(info.context, consistent_with)
        page = await info.context.products.search(_product_query(search, filter, sort, page_size, after))
        edges = [ProductEdge(cursor=hit.cursor, node=Product.from_document(hit.document)) for hit in page.hits]
        return ProductConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None),
            total_count=page.total,
            facets=ProductFacets(
                category=[FacetBucket(value=value, count=count) for value, count in page.facets["category"]],
                tags=[FacetBucket(value=value, count=count) for value, count in page.facets["tags"]],
            ),
        )

    @strawberry.field
    async def sync_status(self, info: Info) -> SyncStatus:
        head = await info.context.sync_state.head_position()
        indexed = await info.context.read_positions.current()
        return SyncStatus(
            head_position=encode_position(head),
            indexed_position=encode_position(indexed),
            lag=max(head - indexed, 0),
            dead_letters=await info.context.sync_state.dead_letter_count(),
        )


def _page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return 20
    if not 0 <= first <= maximum:
        raise BadUserInput(f"`first` must be between 0 and {maximum}.")
    return first


def _product_query(
    search: str | None, filter: ProductFilter | None, sort: ProductSort | None, first: int, after: str | None
) -> ProductQuery:
    filter = filter or ProductFilter()
    return ProductQuery(
        search=search,
        categories=filter.category,
        tags=filter.tags,
        min_price=filter.min_price,
        max_price=filter.max_price,
        in_stock=filter.in_stock,
        statuses=None if filter.status is None else [status.value for status in filter.status],
        order=ProductOrder((sort or ProductSort.RELEVANCE).value),
        first=first,
        after=after,
    )
