"""The plain-field executor answers exactly what graphql-core's own execution answers: data in
selection order, aliases, fragments, directives, enums, nulls, and the same errors at the same
paths where a value does not complete."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from schema.build import build_schema
from schema.plain_fields import PlainFieldsExecutor, plain_leaves


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type
class Tag:
    label: str
    weight: int | None


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

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix


def _items() -> list[Item]:
    return [
        Item(id=strawberry.ID("1"), name="lamp", price=9.5, shade=Shade.DARK, note=None,
             tags=[Tag(label="a", weight=1), Tag(label="b", weight=None)], broken="ok", codes=["x", "y"],
             maybe_codes=None),
        Item(id=strawberry.ID("2"), name="desk", price=120.0, shade=Shade.LIGHT, note="oak", tags=[],
             broken=None, codes=["z", None], maybe_codes=["w", None]),  # type: ignore[arg-type, list-item]
    ]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return _items()

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


def test_the_served_schema_completes_a_products_scalars_itself() -> None:
    """Guards the bypass against strawberry marking its basic fields differently one day."""
    served = build_schema()
    product = served._schema.get_type("Product")
    assert isinstance(product, GraphQLObjectType)
    assert issubclass(served.execution_context_class, PlainFieldsExecutor)
    assert {"id", "sku", "name", "tags", "stock", "status", "version"} <= set(plain_leaves(product))
