"""The plain-field executor answers exactly what graphql-core's own execution answers: data in
selection order, aliases, fragments, directives, enums, nulls, and the same errors at the same
paths where a value does not complete."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType, graphql_sync, parse
from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.build import build_schema
from schema.plain_fields import PlainFieldsExecutor, plain_fields


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type
class Tag:
    label: str
    weight: int | None
    rank: int  # None on one tag: a non-null field deep in a list that does not complete

    @strawberry.field
    def loud(self) -> str:
        return self.label.upper()


class Denied(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    price: float
    shade: Shade
    note: str | None
    tags: list[Tag]
    broken: str  # None on some items: a non-null field that does not complete
    codes: list[str]
    maybe_codes: list[str | None] | None
    best_tag: Tag | None
    shelves: list[list[Tag]]
    spare_tags: list[Tag | None]
    strict_tags: list[Tag]  # a None in item 2's: a non-null list item that does not complete
    secret: str | None = strawberry.field(default="hidden", permission_classes=[Denied])

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix


def _items() -> list[Item]:
    return [
        Item(id=strawberry.ID("1"), name="lamp", price=9.5, shade=Shade.DARK, note=None,
             tags=[Tag(label="a", weight=1, rank=1), Tag(label="b", weight=None, rank=2)], broken="ok",
             codes=["x", "y"], maybe_codes=None, best_tag=Tag(label="a", weight=1, rank=1),
             shelves=[[Tag(label="c", weight=3, rank=3)], []], spare_tags=[Tag(label="e", weight=5, rank=5), None],
             strict_tags=[Tag(label="f", weight=6, rank=6)]),
        Item(id=strawberry.ID("2"), name="desk", price=120.0, shade=Shade.LIGHT, note="oak",
             tags=[Tag(label="d", weight=4, rank=None)], broken=None,  # type: ignore[arg-type]
             codes=["z", None], maybe_codes=["w", None], best_tag=None, shelves=[],  # type: ignore[list-item]
             spare_tags=[None], strict_tags=[Tag(label="g", weight=7, rank=7), None]),  # type: ignore[list-item]
    ]


@strawberry.type
class Box:
    item: Item


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return _items()

    @strawberry.field
    def boxes(self) -> list[Box]:
        return [Box(item=item) for item in _items()]

    @strawberry.field
    def sound_items(self) -> list[Item]:
        return _items()[:1]

    @strawberry.field
    async def later(self) -> Item:
        return _items()[0]


QUERIES = [
    "{ items { id name price shade note tags { label weight } } }",
    "{ soundItems { codes maybeCodes } }",
    "{ items { maybeCodes } }",
    "{ items { name codes } }",
    "{ soundItems { b: name a: id __typename name shout(suffix: \"?\") ...F } } fragment F on Item { price shade }",
    "query($no: Boolean!) { items { name note @skip(if: $no) shade @include(if: $no) } }",
    "{ items { name broken } }",
    "{ later { name shade tags { label } } soundItems { name } }",
    "{ items { bestTag { label weight __typename } shelves { label } } }",
    "{ items { tags { label rank } } }",
    "{ soundItems { tags { label rank } } }",
    "{ items { name tags { label loud } bestTag { loud } } }",
    "{ items { tags { ... on Tag { w: weight } label } } }",
    "query($no: Boolean!) { items { tags { label weight @skip(if: $no) } } }",
    "{ soundItems { name secret } }",
    "{ boxes { item { name bestTag { label } tags { label weight } } } }",
    "{ items { spareTags { label __typename } } }",
    "{ items { name strictTags { label } } }",
    "{ soundItems { strictTags { label weight } } }",
]


async def _run(schema: strawberry.Schema, query: str) -> dict[str, Any]:
    result = await schema.execute(query, variable_values={"no": True})
    return {"data": result.data, "errors": [(e.message, e.path) for e in result.errors or []]}


@pytest.mark.parametrize("query", QUERIES)
async def test_the_plain_executor_answers_as_graphql_core_does(query: str) -> None:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    standard = strawberry.Schema(query=Query)
    ours, theirs = await _run(plain, query), await _run(standard, query)
    assert json.dumps(ours) == json.dumps(theirs)  # keys in the same order too


async def test_a_non_null_field_that_does_not_complete_is_the_same_error_at_the_same_path() -> None:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    answer = await _run(plain, "{ items { name broken } }")
    assert answer["data"] is None
    assert answer["errors"] == [("Cannot return null for non-nullable field Item.broken.", ["items", 1, "broken"])]


async def test_a_field_with_a_permission_class_and_no_resolver_is_checked() -> None:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    answer = await _run(plain, "{ soundItems { name secret } }")
    assert answer == {"data": {"soundItems": [{"name": "lamp", "secret": None}]},
                      "errors": [("not for you", ["soundItems", 0, "secret"])]}


def test_the_served_schema_completes_a_page_of_products_itself() -> None:
    """Guards the bypass against strawberry marking its basic fields differently one day."""
    served = build_schema()
    assert issubclass(served.execution_context_class, PlainFieldsExecutor)
    expected = {"Product": {"id", "sku", "name", "tags", "stock", "status", "version", "price"},
                "ProductConnection": {"edges", "pageInfo", "totalCount", "facets"},
                "ProductEdge": {"cursor", "node"}, "Money": {"amount", "currency"}}
    for type_name, fields in expected.items():
        object_type = served._schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        assert fields <= set(plain_fields(object_type)), type_name


async def test_below_a_resolved_field_graphql_core_executes_nothing_that_is_plain() -> None:
    """The point of the executor: a page of plain objects costs graphql-core one field, not one per value."""
    executed: list[str] = []

    class Counting(PlainFieldsExecutor):
        def execute_field(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any,
                          path: Any, position_context: Any) -> Any:
            executed.append(f"{parent_type.name}.{field_details_list[0].node.name.value}")
            return super().execute_field(parent_type, source, field_details_list, path, position_context)

    counting = strawberry.Schema(query=Query, execution_context_class=Counting)
    await _run(counting, "{ items { name bestTag { label } shelves { weight } maybeCodes } }")
    assert executed == ["Query.items"]
    executed.clear()
    await _run(counting, "{ soundItems { name tags { loud } } }")  # a resolver below: its objects go the long way
    assert executed == ["Query.soundItems", "Item.tags", "Tag.loud", "Tag.loud"]
    executed.clear()
    await _run(counting, "{ boxes { item { name bestTag { label } tags { label } } } }")  # plain in plain
    assert executed == ["Query.boxes"]


def test_the_copies_of_an_executor_share_one_selection_per_place_in_the_document() -> None:
    """A subscription's notifications are rendered by per-event copies of one executor for as
    long as it is subscribed: each answers as a fresh execution does, and the selections they
    work out are kept once per place in the document, not once per notification."""
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    query = "{ items { name tags { label weight } bestTag { label } } boxes { item { name } } }"
    document = parse(query)
    built = PlainFieldsExecutor.build(plain._schema, document)
    assert isinstance(built, PlainFieldsExecutor)
    expected = graphql_sync(strawberry.Schema(query=Query)._schema, query, Query())
    answers = [built.build_per_event_executor(Query()).execute_operation(False) for _ in range(50)]
    assert all(answer == expected for answer in answers)
    kept = len(built._selections)
    built.build_per_event_executor(Query()).execute_operation(False)
    assert 0 < kept == len(built._selections)
