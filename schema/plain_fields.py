"""Completing plain fields without graphql-core's per-field machinery.

A field that returns an attribute of its parent (strawberry's basic field: no resolver, no
extension, no arguments) with a scalar or enum type costs graphql-core a path, a resolve info,
two resolver calls and a completion. On a page of 20 products that is most of the execution
(bench/README.md, R1). This executor reads such attributes itself and coerces them as
graphql-core would; any other field, and any value that would not complete cleanly (null for a
non-null type, an exception, a value the type refuses), takes graphql-core's own path, so
errors and their paths stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_NOT_PLAIN = object()


@dataclass(frozen=True, slots=True)
class _Leaf:
    attribute: str
    type: GraphQLLeafType
    nullable: bool
    # A list of leaves: whether the list and its items may be null.
    list_nullable: bool | None = None

    def read(self, source: Any) -> Any:
        """The completed value, or _NOT_PLAIN where graphql-core must decide."""
        value = getattr(source, self.attribute, _NOT_PLAIN)
        if self.list_nullable is None:
            return self._complete(value)
        if value is None:
            return None if self.list_nullable else _NOT_PLAIN
        if not isinstance(value, list | tuple):
            return _NOT_PLAIN
        items = [self._complete(item) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items

    def _complete(self, value: Any) -> Any:
        if value is None:
            return None if self.nullable else _NOT_PLAIN
        if value is _NOT_PLAIN or isinstance(value, Exception):
            return _NOT_PLAIN
        try:
            completed = self.type.coerce_output_value(value)
        except Exception:  # graphql-core turns it into the field's error
            return _NOT_PLAIN
        return _NOT_PLAIN if completed is Undefined or completed is None else completed


def _leaf(attribute: str, field_type: GraphQLOutputType) -> _Leaf | None:
    """How to complete a field of `field_type` (a leaf, or a list of leaves), if it is that plain."""
    nullable_type = get_nullable_type(field_type)
    if is_leaf_type(nullable_type):
        return _Leaf(attribute, nullable_type, not is_non_null_type(field_type))
    if isinstance(nullable_type, GraphQLList):
        item_type = nullable_type.of_type
        if is_leaf_type(get_nullable_type(item_type)):
            return _Leaf(attribute, get_nullable_type(item_type), not is_non_null_type(item_type),
                         list_nullable=not is_non_null_type(field_type))
    return None


# Per object type of a built schema; a schema's types live as long as the process.
_LEAVES: dict[GraphQLObjectType, dict[str, _Leaf]] = {}


def plain_leaves(parent_type: GraphQLObjectType) -> dict[str, _Leaf]:
    """The fields of `parent_type` this executor completes itself, by name."""
    leaves = _LEAVES.get(parent_type)
    if leaves is None:
        leaves = _LEAVES[parent_type] = {}
        for name, field in parent_type.fields.items():
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if (isinstance(definition, StrawberryField) and getattr(field.resolve, "_is_default", False)
                    and not field.args and (leaf := _leaf(definition.python_name, field.type)) is not None):
                leaves[name] = leaf
    return leaves


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
        grouped_field_set: GroupedFieldSet, position_context: Any,
    ) -> Any:
        leaves = plain_leaves(parent_type)
        # Field middleware (strawberry passes a manager, empty unless an extension resolves) would
        # expect to see every resolver call.
        middleware = self.middleware_manager
        if not leaves or (middleware is not None and middleware.middlewares):
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plain: dict[str, Any] = {}
        others: GroupedFieldSet = {}
        for response_name, details in grouped_field_set.items():
            leaf = leaves.get(details[0].node.name.value)
            value = _NOT_PLAIN if leaf is None else leaf.read(source_value)
            if value is _NOT_PLAIN:
                others[response_name] = details
            else:
                plain[response_name] = value
        if not others:
            return plain
        executed = super().execute_fields(parent_type, source_value, path, others, position_context)
        if isinstance(executed, dict):
            return _merged(grouped_field_set, plain, executed)
        return _merged_later(grouped_field_set, plain, executed)


def _merged(order: GroupedFieldSet, plain: dict[str, Any], executed: dict[str, Any]) -> dict[str, Any]:
    """Both parts in the order the fields were selected (a field unknown to the schema has no entry)."""
    return {name: plain[name] if name in plain else executed[name]
            for name in order if name in plain or name in executed}


async def _merged_later(order: GroupedFieldSet, plain: dict[str, Any],
                        executed: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return _merged(order, plain, await executed)
