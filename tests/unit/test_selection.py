"""`selects`: which fields a query selects under the current one, through aliases and fragments."""

from __future__ import annotations

import pytest
import strawberry
from graphql import execute_sync, parse

from schema.selection import selects


@strawberry.type
class Facets:
    category: int = 0
    tags: int = 0


@strawberry.type
class Connection:
    total_count: int = 0
    facets: Facets = strawberry.field(default_factory=Facets)


SEEN: list[tuple[bool, bool, bool]] = []


@strawberry.type
class Query:
    @strawberry.field
    def products(self, info: strawberry.Info) -> Connection:
        SEEN.append((selects(info, "totalCount"), selects(info, "facets", "category"), selects(info, "facets", "tags")))
        return Connection()


SCHEMA = strawberry.Schema(query=Query)


@pytest.mark.parametrize(("document", "expected"), [
    ("{ products { totalCount } }", (True, False, False)),
    ("{ products { facets { tags } } }", (False, False, True)),
    ("{ products { n: totalCount f: facets { c: category } } }", (True, True, False)),
    ("{ products { ...C } } fragment C on Connection { facets { ...F } } fragment F on Facets { category tags }",
     (False, True, True)),
    ("{ products { ... on Connection { facets { ... { tags } } } } }", (False, False, True)),
    ("{ a: products { totalCount } b: products { facets { category } } }", (True, False, False)),
    ("{ products { facets { category } } products { totalCount } }", (True, True, False)),
    ("{ products { totalCount @skip(if: true) } }", (True, False, False)),  # counted: only costs work
    ("{ products { __typename } }", (False, False, False)),
])
def test_a_field_is_selected_however_the_query_spells_it(document: str, expected: tuple[bool, bool, bool]) -> None:
    SEEN.clear()
    result = SCHEMA.execute_sync(document)
    assert result.errors is None
    assert SEEN[0] == expected


def test_a_syntax_tree_used_again_is_answered_for_itself_each_time() -> None:
    """The answers are kept per syntax tree (the parse cache hands the same one back): another
    document's tree, even at the same place and with the same shape, gets its own."""
    counted, faceted = parse("{ products { totalCount } }"), parse("{ products { facets { tags } } }")
    SEEN.clear()
    for document in (counted, faceted, counted, faceted):
        result = execute_sync(SCHEMA._schema, document)
        assert result.errors is None
    assert SEEN == [(True, False, False), (False, False, True)] * 2
