"""Every input type of the served schema is built by its own builder, and gives what strawberry's
generic conversion gives for the same value as graphql-core coerced it: fields sent, fields left
out (their published defaults, or None), explicit nulls, lists and nested inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from graphql.utilities import coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from schema.build import ServedSchema, build_schema

SCALARS = {"String": "text", "ID": "id-1", "Int": 7, "Boolean": True, "Float": 1.5, "Decimal": "12.30",
           "DateTime": "2026-12-04T01:02:03+00:00"}

SERVED = build_schema()


def _input_definitions(schema: ServedSchema) -> list[StrawberryObjectDefinition]:
    return [concrete.definition for concrete in schema.schema_converter.type_map.values()
            if isinstance(concrete.definition, StrawberryObjectDefinition) and concrete.definition.is_input]


def _sample(type_: GraphQLInputType, *, nulls: bool, everything: bool) -> Any:
    """A JSON variable value of `type_`: every field (`everything`) or the required ones only,
    nullable ones as null (`nulls`)."""
    if isinstance(type_, GraphQLNonNull):
        return _sample(type_.of_type, nulls=False, everything=everything)
    if nulls:
        return None
    if isinstance(type_, GraphQLList):
        return [_sample(type_.of_type, nulls=False, everything=everything) for _ in range(2)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return SCALARS[type_.name]
    assert isinstance(type_, GraphQLInputObjectType)
    return {name: _sample(field.type, nulls=nulls and not isinstance(field.type, GraphQLNonNull),
                          everything=everything)
            for name, field in type_.fields.items()
            if everything or isinstance(field.type, GraphQLNonNull)}


@contextmanager
def _strawberry_conversion() -> Iterator[None]:
    """Strawberry's own conversion of every input type while in the block."""
    kept = {each.name: each.from_input for each in _input_definitions(SERVED)}
    for each in _input_definitions(SERVED):
        each.from_input = None
    try:
        yield
    finally:
        for each in _input_definitions(SERVED):
            each.from_input = kept[each.name]


def _convert(definition: StrawberryObjectDefinition, value: Any) -> Any:
    converter = SERVED.schema_converter
    return convert_argument(value, definition.origin, converter.scalar_registry, SERVED.config)


@pytest.mark.parametrize("definition", _input_definitions(SERVED), ids=lambda definition: definition.name)
@pytest.mark.parametrize("shape", ["everything", "required only", "nulls"])
def test_an_input_is_built_as_strawberry_builds_it(definition: StrawberryObjectDefinition, shape: str) -> None:
    assert definition.from_input is not None, f"{definition.name} keeps strawberry's conversion"
    graphql_type = SERVED._schema.get_type(definition.name)
    assert isinstance(graphql_type, GraphQLInputObjectType)
    sent = {name: _sample(field.type, nulls=shape == "nulls" and not isinstance(field.type, GraphQLNonNull),
                          everything=shape != "required only")
            for name, field in graphql_type.fields.items()
            if shape != "required only" or isinstance(field.type, GraphQLNonNull)}
    coerced = coerce_input_value(sent, graphql_type)

    built = _convert(definition, coerced)
    with _strawberry_conversion():
        expected = _convert(definition, coerced)

    assert type(built) is type(expected) is definition.origin
    assert vars(built) == vars(expected)
    for field in definition.fields:  # a list graphql-core handed over is a copy of it
        value = getattr(built, field.python_name)
        if isinstance(value, list):
            assert value is not coerced.get(SERVED.config.name_converter.from_field(field))


def test_a_list_default_is_not_shared_between_requests() -> None:
    definition = next(each for each in _input_definitions(SERVED) if each.name == "CreateProductInput")
    graphql_type = SERVED._schema.get_type("CreateProductInput")
    assert isinstance(graphql_type, GraphQLInputObjectType)
    required = {"sku": "S-1", "name": "n", "category": "c", "price": "1.00"}
    first = _convert(definition, coerce_input_value(required, graphql_type))
    first.tags.append("changed")
    second = _convert(definition, coerce_input_value(required, graphql_type))
    assert second.tags == []
