"""Refuses operations built to exhaust the server: too deep, too many aliases, too costly.

Cost counts every field once, multiplied by the page size of each enclosing connection
(`first`, or its default; a variable counts as the largest page allowed), so one request
cannot make the server render millions of objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
)

from schema.failures import QUERY_TOO_COMPLEX

DEFAULT_PAGE = 20


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_cost: int
    max_page: int


# The schema's own shape bounds introspection, not data; GraphiQL's query nests ~15 deep.
INTROSPECTION_MAX_DEPTH = 20
_INTROSPECTION_ROOTS = {"__schema", "__type"}


@dataclass
class _Tally:
    depth: int = 0
    introspection_depth: int = 0
    aliases: int = 0
    cost: int = 0


def complexity_rule(limits: Limits) -> type[ASTValidationRule]:
    class ComplexityRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments = {definition.name.value: definition for definition in context.document.definitions
                               if isinstance(definition, FragmentDefinitionNode)}

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            tally = _Tally()
            _walk(node.selection_set, self._fragments, limits, tally, depth=1, multiplier=1, seen=frozenset(),
                  introspecting=False)
            for measure, value, limit in (("depth", tally.depth, limits.max_depth),
                                          ("introspection depth", tally.introspection_depth,
                                           INTROSPECTION_MAX_DEPTH),
                                          ("aliases", tally.aliases, limits.max_aliases),
                                          ("cost", tally.cost, limits.max_cost)):
                if value > limit:
                    self.report_error(GraphQLError(
                        f"The operation's {measure} is {value}; at most {limit} is allowed.",
                        node, extensions={"code": QUERY_TOO_COMPLEX},
                    ))

    return ComplexityRule


def _walk(selection_set: SelectionSetNode | None, fragments: dict[str, Any], limits: Limits, tally: _Tally,
          depth: int, multiplier: int, seen: frozenset[str], introspecting: bool) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inside = introspecting or selection.name.value in _INTROSPECTION_ROOTS
            if inside:
                tally.introspection_depth = max(tally.introspection_depth, depth)
            else:
                tally.depth = max(tally.depth, depth)
            tally.aliases += selection.alias is not None
            tally.cost += multiplier
            inner = min(multiplier * _page_size(selection, limits.max_page), limits.max_cost + 1)
            _walk(selection.selection_set, fragments, limits, tally, depth + 1, inner, seen, inside)
        elif isinstance(selection, InlineFragmentNode):
            _walk(selection.selection_set, fragments, limits, tally, depth, multiplier, seen, introspecting)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are reported by the standard rules
                _walk(fragments[name].selection_set, fragments, limits, tally, depth, multiplier, seen | {name},
                      introspecting)


def _page_size(field: FieldNode, max_page: int) -> int:
    """How many times a connection repeats what is selected under it (1 for other fields)."""
    if field.name.value not in _CONNECTIONS:
        return 1
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                # A `first` above the largest page is refused by the resolver with its own error.
                return max(1, min(int(argument.value.value), max_page))
            if isinstance(argument.value, VariableNode):
                return max_page
    return DEFAULT_PAGE


# The fields that return a page of a connection, sized by their `first` argument.
_CONNECTIONS = {"products", "customers", "orders"}
