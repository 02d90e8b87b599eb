"""What a query selects under a field, so a resolver asks the read model only for that."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import FieldNode
from strawberry.types.nodes import SelectedField, Selection

# What a field selects depends on the document alone, and the parse cache hands back the same
# syntax tree for the same text: worked out once per place in a document, not per request
# (strawberry's `selected_fields` builds the whole subtree anew each time). Each entry holds its
# nodes, so their ids are not reused while it lasts; documents are bounded by the token limit.
_SELECTED_MAX = 64
_selected: dict[tuple[int, ...], tuple[tuple[FieldNode, ...], dict[tuple[str, ...], bool]]] = {}


def selects(info: strawberry.Info[Any, Any], *path: str) -> bool:
    """Whether the query selects `path` (GraphQL field names, not aliases) under the current field, through
    fragments and aliases. `@skip` and `@include` are not evaluated: a field they leave out still
    counts as selected, which costs some work and never a missing answer."""
    nodes = tuple(info._raw_info.field_nodes)
    key = tuple(map(id, nodes))
    entry = _selected.get(key)
    if entry is None or any(held is not node for held, node in zip(entry[0], nodes, strict=True)):
        if len(_selected) >= _SELECTED_MAX:
            _selected.clear()
        entry = _selected[key] = (nodes, {})
    answers = entry[1]
    answer = answers.get(path)
    if answer is None:
        answer = answers[path] = _selects(info.selected_fields, ("", *path))
    return answer


def _selects(selections: Iterable[Selection], path: tuple[str, ...]) -> bool:
    """`path[0]` is the field the selections belong to ("" for the current one: matched by any)."""
    name, *rest = path
    for selection in selections:
        if isinstance(selection, SelectedField):
            if (not name or selection.name == name) and (not rest or _selects(selection.selections, tuple(rest))):
                return True
        elif _selects(selection.selections, path):  # a fragment: its fields stand where it is spread
            return True
    return False
