"""`selects`: which fields a query selects under the current one, through aliases and fragments."""

from __future__ import annotations

import pytest
import strawberry

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
