"""Refuses operations built to exhaust the server: too deep, too many aliases, too costly.

Cost counts every field once, multiplied by the page size of each enclosing connection
(`first`, or its default; a variable counts as the largest page allowed), so one request
cannot make the server render millions of objects. Aliases count every aliased field as the
operation expands it: a fragment spread twice counts its aliases twice.

The figures are measured in one pass over the document, in time linear in its size: a
fragment's figures depend on the fragment alone (relative to the level it is spread at, and
per unit of the enclosing multiplier, since cost is linear in it), so each fragment is
measured once, however often and however deeply it is spread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    VisitorAction,
)
from graphql.language import SKIP
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError

from schema.errors import QUERY_TOO_COMPLEX

DEFAULT_PAGE = 20


# The schema's own shape bounds introspection, not data; GraphiQL's query nests ~15 deep.
INTROSPECTION_MAX_DEPTH = 20
_INTROSPECTION_ROOTS = {"__schema", "__type"}


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_cost: int
    max_page: int
    # Fields at or under `__schema` and `__type` count here, not towards max_depth.
    max_introspection_depth: int = INTROSPECTION_MAX_DEPTH


# graphql-core's OverlappingFieldsCanBeMergedRule compares fields that share a response name
# pair by pair, so its work grows with the square of the repetitions (a document of repeated
# `syncStatus { lag }` took 1.5 s at 2,500 tokens). It meters that work and aborts validation
# when its budget runs out; its default (500,000 units) is over a second here. Real documents
# spend from nothing to a few thousand units; this bounds the rule to a few tens of ms.
FIELD_MERGING_BUDGET = 10_000


def bound_field_merging(budget: int = FIELD_MERGING_BUDGET) -> None:
    """graphql-core reads this module attribute, documented for the purpose, at each validation."""
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = budget


def complexity_rule(limits: Limits) -> type[ASTValidationRule]:
    class ComplexityRule(ASTValidationRule):
        """Measures every operation on entering the document and aborts the whole validation
        at the first limit passed, so no other rule spends time on a refused document."""

        def enter_document(self, node: DocumentNode, *_args: Any) -> VisitorAction:
            fragments = {definition.name.value: definition for definition in node.definitions
                         if isinstance(definition, FragmentDefinitionNode)}
            measurer = _Measurer(fragments, limits)
            for definition in node.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    try:
                        measurer.check(definition)
                    except _Exceeded as excess:
                        raise ValidationAbortedError(str(excess), definition,
                                                     extensions={"code": QUERY_TOO_COMPLEX}) from None
            return SKIP

    return ComplexityRule


class _Exceeded(Exception):
    def __init__(self, measure: str, value: int, limit: int) -> None:
        super().__init__(f"The operation's {measure} is at least {value}; at most {limit} is allowed.")


@dataclass
class _Measure:
    """A selection set's figures, relative to the level it sits at: its own fields are at
    depth 1, and `cost` is for an enclosing multiplier of 1."""

    depth: int = 0
    introspection_depth: int = 0
    aliases: int = 0
    cost: int = 0

    def add_field(self, node: FieldNode, page: int, inner: _Measure) -> None:
        if node.name.value in _INTROSPECTION_ROOTS:
            # Everything under an introspection root counts towards introspection depth.
            self.introspection_depth = max(self.introspection_depth,
                                           1 + max(inner.depth, inner.introspection_depth))
        else:
            self.depth = max(self.depth, 1 + inner.depth)
            if inner.introspection_depth:
                self.introspection_depth = max(self.introspection_depth, 1 + inner.introspection_depth)
        self.aliases += (node.alias is not None) + inner.aliases
        self.cost += 1 + page * inner.cost

    def add_same_level(self, inner: _Measure) -> None:
        """An inline fragment or a fragment spread: its fields sit at this level."""
        self.depth = max(self.depth, inner.depth)
        self.introspection_depth = max(self.introspection_depth, inner.introspection_depth)
        self.aliases += inner.aliases
        self.cost += inner.cost


_LEAF = _Measure()


@dataclass
class _Frame:
    """A selection set being measured; `done` folds its measure into the enclosing one."""

    selections: Iterator[SelectionNode]
    done: Callable[[_Measure], None]
    measure: _Measure = field(default_factory=_Measure)


class _Measurer:
    """Measures operations with an explicit stack (fragment chains may nest far deeper than
    Python's recursion limit), remembering each fragment's measure for the next spread."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], limits: Limits) -> None:
        self._fragments = fragments
        self._limits = limits
        self._measured: dict[str, _Measure] = {}
        # Fragments being measured: a spread of one of them closes a cycle, which adds nothing
        # here (the standard NoFragmentCyclesRule reports it).
        self._open: set[str] = set()

    def check(self, operation: OperationDefinitionNode) -> None:
        measure = self._measure(operation.selection_set)
        self._check_at_most("depth", measure.depth, self._limits.max_depth)
        self._check_at_most("introspection depth", measure.introspection_depth,
                            self._limits.max_introspection_depth)

    def _measure(self, selection_set: SelectionSetNode) -> _Measure:
        root = _Frame(iter(selection_set.selections), lambda _measure: None)
        stack = [root]
        while stack:
            frame = stack[-1]
            inner = next(frame.selections, None)
            if inner is None:
                stack.pop()
                frame.done(frame.measure)
                if stack:
                    self._check_growth(stack[-1].measure)
            else:
                pushed = self._enter(inner, frame.measure)
                if pushed is not None:
                    stack.append(pushed)
                self._check_growth(frame.measure)
        return root.measure

    def _enter(self, selection: SelectionNode, measure: _Measure) -> _Frame | None:
        """Adds what is known of `selection` to `measure` now; returns a frame for what must be
        measured first."""
        if isinstance(selection, FragmentSpreadNode):
            return self._enter_spread(selection.name.value, measure)
        if isinstance(selection, FieldNode):
            page = _page_size(selection, self._limits.max_page)
            if selection.selection_set is None:
                measure.add_field(selection, page, _LEAF)
                return None
            return _Frame(iter(selection.selection_set.selections),
                          lambda inner: measure.add_field(selection, page, inner))
        inline = cast(InlineFragmentNode, selection)
        return _Frame(iter(inline.selection_set.selections), measure.add_same_level)

    def _enter_spread(self, name: str, measure: _Measure) -> _Frame | None:
        if name in self._measured:
            measure.add_same_level(self._measured[name])
            return None
        if name not in self._fragments or name in self._open:  # unknown fragments are reported elsewhere
            return None
        self._open.add(name)

        def done(inner: _Measure) -> None:
            self._open.discard(name)
            self._measured[name] = inner
            measure.add_same_level(inner)

        return _Frame(iter(self._fragments[name].selection_set.selections), done)

    def _check_growth(self, measure: _Measure) -> None:
        """Aliases and cost only grow as the operation is expanded, and a fragment's own figures
        are a lower bound of every use of it: stop at the first excess."""
        self._check_at_most("aliases", measure.aliases, self._limits.max_aliases)
        self._check_at_most("cost", measure.cost, self._limits.max_cost)

    @staticmethod
    def _check_at_most(measure: str, value: int, limit: int) -> None:
        if value > limit:
            raise _Exceeded(measure, value, limit)


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
_CONNECTIONS = {"products", "customers", "orders", "history"}
