"""The operation limits rule, on its own: what it counts, and that it counts it in one pass."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    SourceLocation,
    VariableNode,
    build_schema,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.rules import overlapping_fields_can_be_merged
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.limits import DEFAULT_PAGE, Limits, bound_field_merging, complexity_rule

# The rule reads only the document; any valid schema lets graphql-core run it.
SCHEMA = build_schema("type Query { a: Int b: Int nested: Query }")
LIMITS = Limits(max_depth=12, max_aliases=30, max_cost=5_000, max_page=100)
UNLIMITED = Limits(max_depth=10**30, max_aliases=10**30, max_cost=10**30, max_page=100,
                   max_introspection_depth=10**30)
CONNECTIONS = {"products", "customers", "orders"}


def refusals(document: str | DocumentNode, limits: Limits = LIMITS) -> list[str]:
    errors = validate(SCHEMA, parse(document) if isinstance(document, str) else document,
                      [complexity_rule(limits)])
    assert all((error.extensions or {}).get("code") == "QUERY_TOO_COMPLEX" for error in errors), errors
    return [error.message for error in errors]


def refusal(measure: str, value: int, limit: int) -> list[str]:
    return [f"The operation's {measure} is at least {value}; at most {limit} is allowed."]


def bomb(fragments: int, last: str = "__typename") -> str:
    """Each fragment spreads the next one twice: 2^(fragments - 1) copies of the last one."""
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(fragments - 1))
    return f"query {{ ...F0 }} {chain} fragment F{fragments - 1} on Query {{ {last} }}"


@pytest.mark.parametrize("fragments", [30, 40, 100])
def test_the_fragment_bomb_is_refused_for_its_cost(fragments: int) -> None:
    # Each fragment is measured once: its cost doubles per level and passes 5,000 at 2^13.
    assert refusals(bomb(fragments)) == refusal("cost", 2**13, 5_000)


def test_a_bomb_is_measured_exactly_without_expanding_it() -> None:
    # 2^149 copies of one field: an expanding walk would never finish (graphql-core refuses
    # fragment chains past 200 by itself).
    exact = replace(UNLIMITED, max_cost=2**149)
    assert refusals(bomb(150), exact) == []
    assert refusals(bomb(150), replace(exact, max_cost=2**149 - 1)) == refusal("cost", 2**149, 2**149 - 1)


def test_aliases_inside_a_fragment_count_once_per_spread() -> None:
    document = "{ ...A nested { ...A } } fragment A on Query { x: a y: b }"
    assert refusals(document, replace(LIMITS, max_aliases=4)) == []
    assert refusals(document, replace(LIMITS, max_aliases=3)) == refusal("aliases", 4, 3)


def test_fragment_depth_adds_to_the_depth_it_is_spread_at() -> None:
    document = "{ nested { nested { ...A } } } fragment A on Query { nested { a } }"
    assert refusals(document, replace(LIMITS, max_depth=4)) == []
    assert refusals(document, replace(LIMITS, max_depth=3)) == refusal("depth", 4, 3)


def test_inline_fragments_add_no_depth_and_count_their_fields() -> None:
    document = "{ ... on Query { a ... { nested { b } } } ... @include(if: true) { x: a } }"
    assert refusals(document, replace(LIMITS, max_depth=2, max_cost=4, max_aliases=1)) == []
    assert refusals(document, replace(LIMITS, max_depth=1)) == refusal("depth", 2, 1)
    assert refusals(document, replace(LIMITS, max_cost=3)) == refusal("cost", 4, 3)


@pytest.mark.parametrize(("first", "page"), [("first: 10", 10), ("first: 1000", 100), ("first: 0", 1),
                                              ("first: $n", 100), ("", DEFAULT_PAGE)])
def test_cost_multiplies_by_the_page_size_of_each_enclosing_connection(first: str, page: int) -> None:
    arguments = f"({first})" if first else ""
    document = (f"query($n: Int) {{ customers{arguments} {{ edges {{ node {{ ...O }} }} }} }} "
                "fragment O on Customer { orders(first: 3) { edges { node { id } } } }")
    # orders: 1 + 3 * (edges + node + id); node: 1 + 10; edges: 1 + 11; customers: 1 + page * 12
    cost = 1 + page * 12
    assert refusals(document, replace(LIMITS, max_cost=cost)) == []
    assert refusals(document, replace(LIMITS, max_cost=cost - 1)) == refusal("cost", cost, cost - 1)


def test_introspection_counts_apart_from_data_depth() -> None:
    levels = "ofType { " * 16 + "name" + " }" * 16
    document = f"{{ __schema {{ types {{ fields {{ type {{ {levels} }} }} }} }} }}"  # 21 deep
    assert refusals(document, replace(LIMITS, max_depth=1, max_introspection_depth=21)) == []
    assert refusals(document, replace(LIMITS, max_depth=1)) == refusal("introspection depth", 21, 20)


def test_a_fragment_counts_as_introspection_only_where_it_is_spread_inside_it() -> None:
    fragment = "fragment T on __Schema { types { fields { name } } }"
    assert refusals(f"{{ __schema {{ ...T }} }} {fragment}", replace(LIMITS, max_depth=1)) == []
    assert refusals(f"{{ __schema {{ ...T }} }} {fragment}", replace(LIMITS, max_introspection_depth=3)) == (
        refusal("introspection depth", 4, 3))
    assert refusals(f"{{ nested {{ ...T }} }} {fragment}", replace(LIMITS, max_depth=3)) == refusal("depth", 4, 3)


@pytest.mark.parametrize("document", [
    "fragment A on Query { a ...B } fragment B on Query { b ...A } { ...A ...B }",
    "fragment A on Query { a nested { ...A } } { ...A }",
    "{ a ...Missing }",
])
def test_cycles_and_unknown_fragments_end_and_are_left_to_the_standard_rules(document: str) -> None:
    assert refusals(document) == []
    assert validate(SCHEMA, parse(document), [*specified_rules, complexity_rule(LIMITS)]) != []


def test_a_fragment_chain_far_past_the_recursion_limit_is_measured() -> None:
    chain = " ".join(f"fragment F{n} on Query {{ nested {{ ...F{n + 1} }} }}" for n in range(5_000))
    document = f"{{ ...F0 }} {chain} fragment F5000 on Query {{ a }}"
    assert refusals(document, replace(LIMITS, max_cost=10**6)) == refusal("depth", 5_001, 12)


def test_every_operation_is_measured() -> None:
    document = "query Cheap { a } query Costly { ...A ...A } fragment A on Query { a b }"
    errors = validate(SCHEMA, parse(document), [complexity_rule(replace(LIMITS, max_cost=3))])
    assert [(error.message, error.locations) for error in errors] == [
        (refusal("cost", 4, 3)[0], [SourceLocation(1, 19)])]


def test_a_refusal_stops_the_standard_rules_from_walking_the_document() -> None:
    # The last fragment also selects an unknown field; only the limit is reported.
    errors = validate(SCHEMA, parse(bomb(100, last="unknown")), [*specified_rules, complexity_rule(LIMITS)])
    assert [error.message for error in errors] == refusal("cost", 2**13, 5_000)


def test_field_merging_checks_stop_at_their_budget() -> None:
    served_budget = overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET
    bound_field_merging(1_000)
    try:
        repeated = "{ " + "nested { a } " * 100 + "}"
        assert [error.message for error in validate(SCHEMA, parse(repeated), [OverlappingFieldsCanBeMergedRule])
                ] == ["Validation aborted."]
        assert validate(SCHEMA, parse("{ " + "nested { a } " * 10 + "}"), [OverlappingFieldsCanBeMergedRule]) == []
    finally:
        bound_field_merging(served_budget)


# A brute-force count to check the rule against: expand every spread, walk every path.

@dataclass
class Figures:
    depth: int = 0
    introspection_depth: int = 0
    aliases: int = 0
    cost: int = 0


def expanded_figures(document: DocumentNode, max_page: int) -> Figures:
    definitions = document.definitions
    fragments = {node.name.value: node for node in definitions if isinstance(node, FragmentDefinitionNode)}
    operation = next(node for node in definitions if isinstance(node, OperationDefinitionNode))
    figures = Figures()

    def walk(selection_set: SelectionSetNode, depth: int, multiplier: int, introspecting: bool) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set, depth, multiplier, introspecting)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, depth, multiplier, introspecting)
            else:
                assert isinstance(selection, FieldNode)
                inside = introspecting or selection.name.value in ("__schema", "__type")
                if inside:
                    figures.introspection_depth = max(figures.introspection_depth, depth)
                else:
                    figures.depth = max(figures.depth, depth)
                figures.aliases += selection.alias is not None
                figures.cost += multiplier
                if selection.selection_set:
                    walk(selection.selection_set, depth + 1, multiplier * page(selection, max_page), inside)

    walk(operation.selection_set, 1, 1, False)
    return figures


def page(field: FieldNode, max_page: int) -> int:
    if field.name.value not in CONNECTIONS:
        return 1
    first = next((argument.value for argument in field.arguments or () if argument.name.value == "first"), None)
    if isinstance(first, IntValueNode):
        return max(1, min(int(first.value), max_page))
    return max_page if isinstance(first, VariableNode) else DEFAULT_PAGE


FIELD_NAMES = ["a", "b", "products", "orders", "__schema", "__type", "__typename"]


@st.composite
def selection_sets(draw: st.DrawFn, spreadable: list[str], levels: int) -> str:
    selections = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "field"] + (["inline"] if levels else [])
                                    + (["spread"] if spreadable else [])))
        if kind == "spread":
            selections.append(f"...{draw(st.sampled_from(spreadable))}")
        elif kind == "inline":
            selections.append("... { " + draw(selection_sets(spreadable, levels - 1)) + " }")
        else:
            selections.append(draw(fields(spreadable, levels)))
    return " ".join(selections)


@st.composite
def fields(draw: st.DrawFn, spreadable: list[str], levels: int) -> str:
    name = draw(st.sampled_from(FIELD_NAMES))
    alias = draw(st.sampled_from(["", "x: "]))
    arguments = draw(st.sampled_from(["", "(first: $n)", f"(first: {draw(st.integers(0, 150))})"])
                     ) if name in CONNECTIONS else ""
    inner = f" {{ {draw(selection_sets(spreadable, levels - 1))} }}" if levels and draw(st.booleans()) else ""
    return f"{alias}{name}{arguments}{inner}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    """An operation and up to four fragments; a fragment spreads only later ones, so no cycles."""
    names = [f"F{n}" for n in range(draw(st.integers(0, 4)))]
    fragments = [f"fragment {name} on Query {{ {draw(selection_sets(names[n + 1:], 2))} }}"
                 for n, name in enumerate(names)]
    return f"query($n: Int) {{ {draw(selection_sets(names, 3))} }} " + " ".join(fragments)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=documents())
def test_figures_equal_a_brute_force_expansion(text: str) -> None:
    document = parse(text)
    expected = expanded_figures(document, UNLIMITED.max_page)
    for measure, limit_name, value in [("depth", "max_depth", expected.depth),
                                       ("introspection depth", "max_introspection_depth",
                                        expected.introspection_depth),
                                       ("aliases", "max_aliases", expected.aliases),
                                       ("cost", "max_cost", expected.cost)]:
        assert refusals(document, replace(UNLIMITED, **{limit_name: value})) == [], measure
        assert refusals(document, replace(UNLIMITED, **{limit_name: value - 1})) == refusal(
            measure, value, value - 1)


def test_errors_are_graphql_errors_with_the_operation_as_their_node() -> None:
    document = "{ " + " ".join(f"a{n}: a" for n in range(31)) + " }"
    [error] = validate(SCHEMA, parse(document), [complexity_rule(LIMITS)])
    assert isinstance(error, GraphQLError)
    assert error.extensions == {"code": "QUERY_TOO_COMPLEX"}
    assert error.locations is not None and error.locations[0].line == 1
