"""Input objects built by converters worked out once per type, through strawberry's `from_input`.

Strawberry converts an argument's input value by walking its type on every request: resolving
each field's type, converting each name and asking what kind of type it is (about 150 us of a
`createProduct`'s input, bench/README.md). The input types of the served schema are plain
(leaves, lists, optional values and other such inputs), so each gets a builder that knows its
fields' GraphQL names, Python names and conversions beforehand, and gives what strawberry's
generic conversion gives: leaves as graphql-core parsed them, lists copied (graphql-core hands
every request that omits a value the same default), nested inputs built, None and UNSET kept, a
None for fields without a default the client left out. A type with anything else (a `Maybe`
field, a relay GlobalID, which strawberry decodes, a lazy or generic type) keeps strawberry's
conversion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
Build = Callable[[type, Mapping[str, Any]], Any]


class _NotPlain(Exception):
    """A type strawberry's own conversion must keep."""


def build_inputs_once(definitions: list[StrawberryObjectDefinition], scalar_registry: Mapping[object, Any],
                      graphql_name: Callable[[Any], str]) -> None:
    """Give every plain input type among `definitions` its builder (`from_input`). Called after
    the schema is built: strawberry has converted the published defaults its own way by then."""
    builders: dict[type, Build | None] = {}
    for definition in definitions:
        if definition.is_input and definition.from_input is None:
            _builder(definition.origin, builders, scalar_registry, graphql_name)
    for origin, build in builders.items():
        if build is not None:
            origin.__strawberry_definition__.from_input = _from_input(build)  # type: ignore[attr-defined]


def _from_input(build: Build) -> Callable[[type, Mapping[str, Any], InputContext], Any]:
    # The context locates a value for types that report their own errors; these report none.
    return lambda cls, value, _context: build(cls, value)


def _builder(origin: type, builders: dict[type, Build | None], scalar_registry: Mapping[object, Any],
             graphql_name: Callable[[Any], str]) -> Build | None:
    if origin in builders:
        return builders[origin]
    builders[origin] = None  # a type that contains itself keeps strawberry's conversion
    definition: StrawberryObjectDefinition = origin.__strawberry_definition__  # type: ignore[attr-defined]
    try:
        fields = [(graphql_name(field), field.python_name,
                   _converter(field.resolve_type(type_definition=definition), builders, scalar_registry,
                              graphql_name))
                  for field in definition.fields]
    except _NotPlain:
        return None
    # As strawberry does: a field without a default the client left out is None.
    implicit = {field.python_name: None for field in definition.fields
                if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING}

    def build(cls: type, value: Mapping[str, Any]) -> Any:
        kwargs = dict(implicit)
        for name, python_name, convert in fields:
            if name in value:
                kwargs[python_name] = convert(value[name])
        return cls(**kwargs)

    builders[origin] = build
    return build


def _converter(type_: StrawberryType | type, builders: dict[type, Build | None],
               scalar_registry: Mapping[object, Any], graphql_name: Callable[[Any], str]) -> Convert:
    if isinstance(type_, StrawberryMaybe):
        raise _NotPlain(type_)
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, builders, scalar_registry, graphql_name)
    if isinstance(type_, StrawberryList):
        item = _converter(type_.of_type, builders, scalar_registry, graphql_name)
        if item is _leaf:
            return _leaves
        return lambda value: value if value is None or value is UNSET else [item(each) for each in value]
    enum = has_enum_definition(type_) or isinstance(type_, StrawberryEnumDefinition)
    if enum or (is_scalar(type_, scalar_registry) and type_ is not GlobalID):
        return _leaf
    if has_object_definition(type_) and type_.__strawberry_definition__.is_input:
        nested = _builder(type_, builders, scalar_registry, graphql_name)
        if nested is None:
            raise _NotPlain(type_)
        return lambda value: value if value is None or value is UNSET else nested(type_, value)
    raise _NotPlain(type_)


def _leaf(value: Any) -> Any:
    return value


def _leaves(value: Any) -> Any:
    return value if value is None or value is UNSET else list(value)
