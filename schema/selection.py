"""What a query selects under a field, so a resolver asks the read model only for that."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.types.nodes import SelectedField, Selection


def selects(info: strawberry.Info[Any, Any], *path: str) -> bool:
    """Whether the query selects `path` (GraphQL field names, not aliases) under the current field, through
    fragments and aliases. `@skip` and `@include` are not evaluated: a field they leave out still
    counts as selected, which costs some work and never a missing answer."""
    return _selects(info.selected_fields, ("", *path))


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
