"""Completing plain fields without graphql-core's per-field machinery.

A field that returns an attribute of its parent (strawberry's basic field: no resolver, no
extension, no arguments) costs graphql-core a path, a resolve info, two resolver calls and a
completion, and each object or list item below it a walk of five calls more. On a page of 20
products that is most of the execution (bench/README.md, R1). This executor reads such
attributes itself and completes them as graphql-core would: scalars and enums, objects whose
selected fields are all plain (recursively), and lists of either. Any other field, and any value
that would not complete cleanly (null for a non-null type, an exception, a value the type
refuses, an object that is not of its type), takes graphql-core's own path, so errors and their
paths stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_NOT_PLAIN = object()


@dataclass(frozen=True, slots=True)
class _Leaf:
    type: GraphQLLeafType
    nullable: bool
    complete: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Object:
    type: GraphQLObjectType
    nullable: bool


@dataclass(frozen=True, slots=True)
class _List:
    item: _Shape
    nullable: bool


_Shape = _Leaf | _Object | _List


@dataclass(frozen=True, slots=True)
class _Field:
    attribute: str
    shape: _Shape


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
# What graphql-core's serializers return unchanged: a value of exactly this Python type.
_UNCHANGED: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _leaf_completer(leaf_type: GraphQLLeafType) -> Callable[[Any], Any]:
    """The completed value of a leaf, or _NOT_PLAIN where graphql-core must decide (and raise)."""
    coerce = leaf_type.coerce_output_value

    def coerced(value: Any) -> Any:
        try:
            completed = coerce(value)
        except Exception:  # graphql-core turns it into the field's error
            return _NOT_PLAIN
        return _NOT_PLAIN if completed is Undefined or completed is None else completed

    unchanged = _UNCHANGED.get(leaf_type)
    if unchanged is not None:
        return lambda value: value if type(value) is unchanged else coerced(value)
    if leaf_type is GraphQLInt:
        return lambda value: value if type(value) is int and _INT_MIN <= value <= _INT_MAX else coerced(value)
    return coerced


def _shape(field_type: GraphQLOutputType) -> _Shape | None:
    """How to complete a value of `field_type`: leaves, objects and lists of them; not abstract types."""
    nullable_type = get_nullable_type(field_type)
    nullable = not is_non_null_type(field_type)
    if is_leaf_type(nullable_type):
        return _Leaf(nullable_type, nullable, _leaf_completer(nullable_type))
    if isinstance(nullable_type, GraphQLObjectType):
        return _Object(nullable_type, nullable)
    if isinstance(nullable_type, GraphQLList) and (item := _shape(nullable_type.of_type)) is not None:
        return _List(item, nullable)
    return None


_Selection = tuple[tuple[str, _Field | None, FieldDetailsList], ...]
"""An object's selected fields in order: response name, field (None for `__typename`), and the
field's details, under which its own selection is found."""


# Per object type of a built schema; a schema's types live as long as the process.
_PLAIN_FIELDS: dict[GraphQLObjectType, dict[str, _Field]] = {}


def plain_fields(parent_type: GraphQLObjectType) -> dict[str, _Field]:
    """The fields of `parent_type` that read an attribute and nothing else, by name."""
    fields = _PLAIN_FIELDS.get(parent_type)
    if fields is None:
        fields = _PLAIN_FIELDS[parent_type] = {}
        for name, field in parent_type.fields.items():
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            # `is_basic_field`: no resolver and no extension (a permission class is one), which
            # strawberry's resolver flag alone does not say.
            if (isinstance(definition, StrawberryField) and definition.is_basic_field
                    and getattr(field.resolve, "_is_default", False) and not field.args
                    and (shape := _shape(field.type)) is not None):
                fields[name] = _Field(definition.python_name, shape)
    return fields


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Shared with the per-event copies of a subscription's executor (graphql-core's shallow
        # copy): one entry per place in the document, whichever execution asks.
        self._selections: dict[tuple[GraphQLObjectType, tuple[int, ...]], _Selection | None] = {}

    def execute_fields(
        self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
        grouped_field_set: GroupedFieldSet, position_context: Any,
    ) -> Any:
        fields = plain_fields(parent_type)
        # Field middleware (strawberry passes a manager, empty unless an extension resolves) would
        # expect to see every resolver call.
        middleware = self.middleware_manager
        if not fields or (middleware is not None and middleware.middlewares):
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plain: dict[str, Any] = {}
        others: GroupedFieldSet = {}
        for response_name, details in grouped_field_set.items():
            field = fields.get(details[0].node.name.value)
            value = _NOT_PLAIN if field is None else self._complete(
                field.shape, getattr(source_value, field.attribute, _NOT_PLAIN), details)
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

    def _complete(self, shape: _Shape, value: Any, details: FieldDetailsList) -> Any:
        """The completed value, or _NOT_PLAIN where graphql-core must decide. Reading attributes
        has no effects, so giving a half-completed object up to graphql-core costs only time."""
        if value is None:
            return None if shape.nullable else _NOT_PLAIN
        if value is _NOT_PLAIN or isinstance(value, Exception):
            return _NOT_PLAIN
        if isinstance(shape, _Leaf):
            return shape.complete(value)
        if isinstance(shape, _List):
            if not isinstance(value, list | tuple):
                return _NOT_PLAIN
            item = shape.item
            if value and isinstance(item, _Object) and item.type.is_type_of is None:
                return self._complete_objects(item, value, details)
            items = []
            for item_value in value:
                completed = self._complete(item, item_value, details)
                if completed is _NOT_PLAIN:
                    return _NOT_PLAIN
                items.append(completed)
            return items
        return self._complete_object(shape.type, value, details)

    def _complete_objects(self, shape: _Object, values: list[Any] | tuple[Any, ...],
                          details: FieldDetailsList) -> Any:
        """A list of objects of a type without `is_type_of`: all its items share one selection,
        looked up once (a page's edges and nodes are most of the objects of an answer)."""
        selection = self._selection(shape.type, details)
        if selection is None:
            return _NOT_PLAIN
        items: list[Any] = []
        for value in values:
            if value is None:
                if not shape.nullable:
                    return _NOT_PLAIN
                items.append(None)
                continue
            if isinstance(value, Exception):
                return _NOT_PLAIN
            completed = self._complete_selection(shape.type, selection, value)
            if completed is _NOT_PLAIN:
                return _NOT_PLAIN
            items.append(completed)
        return items

    def _complete_object(self, object_type: GraphQLObjectType, value: Any, details: FieldDetailsList) -> Any:
        if object_type.is_type_of is not None:
            try:  # strawberry's own predicates look at the value only
                if object_type.is_type_of(value, None) is not True:  # type: ignore[arg-type]
                    return _NOT_PLAIN
            except Exception:
                return _NOT_PLAIN
        selection = self._selection(object_type, details)
        if selection is None:
            return _NOT_PLAIN
        return self._complete_selection(object_type, selection, value)

    def _complete_selection(self, object_type: GraphQLObjectType, selection: _Selection, value: Any) -> Any:
        completed: dict[str, Any] = {}
        for response_name, field, sub_details in selection:
            if field is None:
                completed[response_name] = object_type.name
                continue
            shape = field.shape
            sub_value = getattr(value, field.attribute, _NOT_PLAIN)
            # Leaves inline: they are most of the fields of a page, and a call each is its cost.
            if isinstance(shape, _Leaf) and sub_value is not None and sub_value is not _NOT_PLAIN:
                sub_value = shape.complete(sub_value)
            else:
                sub_value = self._complete(shape, sub_value, sub_details)
            if sub_value is _NOT_PLAIN:
                return _NOT_PLAIN
            completed[response_name] = sub_value
        return completed

    def _selection(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> _Selection | None:
        """The plain fields selected on `object_type` under `details`, or None where one is not
        plain. Worked out once for each such place in the document (all the items of a list share
        theirs, and so do the notifications of a subscription), not once per object. A place is
        the field nodes it is selected by, which the document holds for as long as the executor;
        the variables that could change the selection are the executor's, shared by its copies."""
        key = (object_type, tuple(id(detail.node) for detail in details))
        if key in self._selections:
            return self._selections[key]
        subfields, deferred, _forbidden = self.collect_subfields(object_type, details)
        fields = plain_fields(object_type)
        selection: _Selection | None = None
        if not deferred:
            chosen: list[tuple[str, _Field | None, FieldDetailsList]] = []
            for response_name, sub_details in subfields.items():
                name = sub_details[0].node.name.value
                field = None if name == "__typename" else fields.get(name)
                if field is None and name != "__typename":
                    break
                chosen.append((response_name, field, sub_details))
            else:
                selection = tuple(chosen)
        self._selections[key] = selection
        return selection


def _merged(order: GroupedFieldSet, plain: dict[str, Any], executed: dict[str, Any]) -> dict[str, Any]:
    """Both parts in the order the fields were selected (a field unknown to the schema has no entry)."""
    return {name: plain[name] if name in plain else executed[name]
            for name in order if name in plain or name in executed}


async def _merged_later(order: GroupedFieldSet, plain: dict[str, Any],
                        executed: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return _merged(order, plain, await executed)
