"""Query resolvers. They read only from the Elasticsearch read model."""

from __future__ import annotations

from typing import Annotated

import strawberry

# The read model's sort enums are served as they are (strawberry takes plain Enums), so the
# GraphQL `ProductSort` and `OrderSort` are those enums, with nothing to map between two.
from read_model.history import StreamType
from read_model.orders import OrderQuery, OrderSort
from read_model.products import FACETS, ProductPage, ProductQuery, ProductSort
from read_model.search import Hit
from schema.auth import caller, require_admin, require_customer_or_admin, visible_to
from schema.consistency import catch_up, decode_position, encode_position
from schema.context import Context
from schema.errors import BadUserInput
from schema.history import Event, EventConnection, EventEdge
from schema.inputs import OrderFilter, ProductFilter
from schema.selection import selects
from schema.types import (
    Customer,
    CustomerConnection,
    CustomerEdge,
    FacetBucket,
    Order,
    OrderConnection,
    OrderEdge,
    PageInfo,
    Product,
    ProductConnection,
    ProductEdge,
    ProductFacets,
    SyncStatus,
)
from write_model.money import minor_units_at_least, minor_units_at_most

Info = strawberry.Info[Context, None]

AsOf = Annotated[str | None, strawberry.argument(description=(
    "A `position`: the document as it was after its last event at or before it (null before its first); "
    "exact with a `consistentWith` of at least that position."))]


@strawberry.type
class Query:
    @strawberry.field
    async def product(
        self, info: Info, id: strawberry.ID, consistent_with: str | None = None,
        as_of: AsOf = None,
    ) -> Product | None:
        await caller(info)
        await catch_up(info.context, consistent_with)
        if as_of is None:
            document = await info.context.products.get(id)
        else:
            document = await info.context.history.state_at(StreamType.PRODUCT, id, decode_position(as_of, "asOf"))
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
        await caller(info)
        page_size = _page_size(first, info.context.max_page_size)
        await catch_up(info.context, consistent_with)
        return product_connection(
            await info.context.products.search(_product_query(search, filter, sort, page_size, after, info)))

    @strawberry.field
    async def customer(self, info: Info, id: strawberry.ID, consistent_with: str | None = None) -> Customer | None:
        principal = await require_customer_or_admin(info)
        if not visible_to(principal, id):
            return None
        await catch_up(info.context, consistent_with)
        document = await info.context.customers.get(id)
        return Customer.from_document(document) if document else None

    @strawberry.field
    async def customers(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 20,
        after: str | None = None,
        consistent_with: str | None = None,
    ) -> CustomerConnection:
        principal = await require_customer_or_admin(info)
        page_size = _page_size(first, info.context.max_page_size)
        await catch_up(info.context, consistent_with)
        page = await info.context.customers.search(search, page_size, after, only_id=principal.customer_id)
        return CustomerConnection(
            edges=[CustomerEdge(cursor=hit.cursor, node=Customer.from_document(hit.document)) for hit in page.hits],
            page_info=_page_info(page.hits, page.has_next_page),
            total_count=_total(page.total),
        )

    @strawberry.field
    async def order(
        self, info: Info, id: strawberry.ID, consistent_with: str | None = None,
        as_of: AsOf = None,
    ) -> Order | None:
        principal = await require_customer_or_admin(info)
        await catch_up(info.context, consistent_with)
        if as_of is None:
            document = await info.context.orders.get(id)
        else:
            document = await info.context.history.state_at(StreamType.ORDER, id, decode_position(as_of, "asOf"))
        if document is None or not visible_to(principal, document["customerId"]):
            return None
        return Order.from_document(document)

    @strawberry.field
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        sort: OrderSort | None = OrderSort.NEWEST,
        first: int | None = 20,
        after: str | None = None,
        consistent_with: str | None = None,
    ) -> OrderConnection:
        principal = await require_customer_or_admin(info)
        page_size = _page_size(first, info.context.max_page_size)
        await catch_up(info.context, consistent_with)
        query = _order_query(filter, sort, page_size, after, owner_id=principal.customer_id)
        page = await info.context.orders.search(query)
        return OrderConnection(
            edges=[OrderEdge(cursor=hit.cursor, node=Order.from_document(hit.document)) for hit in page.hits],
            page_info=_page_info(page.hits, page.has_next_page),
            total_count=_total(page.total),
        )

    @strawberry.field
    async def history(
        self,
        info: Info,
        stream: StreamType,
        id: strawberry.ID,
        first: int | None = 20,
        after: str | None = None,
        consistent_with: str | None = None,
    ) -> EventConnection:
        owner_id = await _history_owner(info, stream)
        page_size = _page_size(first, info.context.max_page_size)
        await catch_up(info.context, consistent_with)
        page = await info.context.history.events(stream, id, first=page_size, after=after, owner_id=owner_id)
        return EventConnection(
            edges=[EventEdge(cursor=hit.cursor, node=Event.from_document(hit.document)) for hit in page.hits],
            page_info=_page_info(page.hits, page.has_next_page),
            total_count=_total(page.total),
        )

    @strawberry.field
    async def sync_status(self, info: Info) -> SyncStatus:
        await require_admin(info)
        head = await info.context.sync_state.head_position()
        indexed = await info.context.indexed_position.current()
        return SyncStatus(
            head_position=encode_position(head),
            indexed_position=encode_position(indexed),
            lag=max(head - indexed, 0),
            dead_letters=await info.context.sync_state.dead_letter_count(),
        )


async def _history_owner(info: Info, stream: StreamType) -> str | None:
    """Whose streams the caller may read (None: any). Products' history is public; the others
    are a customer's, for them and admins (schema.auth)."""
    if stream is StreamType.PRODUCT:
        await caller(info)
        return None
    return (await require_customer_or_admin(info)).customer_id


def _page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return 20
    if not 0 <= first <= maximum:
        raise BadUserInput(f"`first` must be between 0 and {maximum}.")
    return first


def product_connection(page: ProductPage) -> ProductConnection:
    """The answer of `products` for a page of the read model (also the read floor's, bench R1)."""
    return ProductConnection(
        edges=[ProductEdge(cursor=hit.cursor, node=Product.from_document(hit.document)) for hit in page.hits],
        page_info=_page_info(page.hits, page.has_next_page),
        total_count=_total(page.total),
        facets=ProductFacets(category=_buckets(page.facets, "category"), tags=_buckets(page.facets, "tags")),
    )


def _page_info(hits: list[Hit], has_next_page: bool) -> PageInfo:
    return PageInfo(has_next_page=has_next_page, end_cursor=hits[-1].cursor if hits else None)


def _buckets(facets: dict[str, list[tuple[str, int]]], name: str) -> list[FacetBucket]:
    """A facet's buckets; none when the query did not select it, and they are then never sent."""
    return [FacetBucket(value=value, count=count) for value, count in facets.get(name, [])]


def _total(total: int | None) -> int:
    """A page's total; 0 when the query did not select `totalCount`, which is then never sent."""
    return 0 if total is None else total


def _product_query(
    search: str | None, filter: ProductFilter | None, sort: ProductSort | None, first: int, after: str | None,
    info: Info,
) -> ProductQuery:
    """The search, with only the facets and the total the query selects."""
    filter = filter or ProductFilter()
    return ProductQuery(
        search=search,
        categories=filter.category,
        tags=filter.tags,
        min_price_minor=None if filter.min_price is None else minor_units_at_least(filter.min_price),
        max_price_minor=None if filter.max_price is None else minor_units_at_most(filter.max_price),
        in_stock=filter.in_stock,
        statuses=None if filter.status is None else [status.value for status in filter.status],
        sort=sort or ProductSort.RELEVANCE,
        first=first,
        after=after,
        facets=frozenset(name for name in FACETS if selects(info, "facets", name)),
        count_total=selects(info, "totalCount"),
    )


def _order_query(
    filter: OrderFilter | None, sort: OrderSort | None, first: int, after: str | None, owner_id: str | None
) -> OrderQuery:
    filter = filter or OrderFilter()
    return OrderQuery(
        customer_id=filter.customer_id,
        statuses=None if filter.status is None else [status.value for status in filter.status],
        product_id=filter.product_id,
        placed_after=filter.placed_after,
        placed_before=filter.placed_before,
        sort=sort or OrderSort.NEWEST,
        first=first,
        after=after,
        owner_id=owner_id,
    )
