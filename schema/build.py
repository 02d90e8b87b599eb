"""Assembles the served GraphQL schema."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from graphql import DocumentNode, GraphQLError, execute, get_operation_ast
from graphql import OperationType as DocumentOperationType
from strawberry import Schema
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.graphql import OperationType

from schema.error_codes import ErrorCodes, coded
from schema.input_building import build_inputs_once
from schema.limits import Limits, bound_field_merging, complexity_rule
from schema.mutation import Mutation
from schema.notifications import PassedThrough
from schema.operation_choice import OperationNameRequired
from schema.parse_cache import ParsedDocuments, ParseOnce
from schema.plain_fields import PlainFieldsExecutor
from schema.query import Query
from schema.subscription import Subscription
from schema.validation_cache import PassedDocuments, ValidateOnce

DOCUMENT_CACHE_SIZE = 512
# Syntax trees are bounded by their texts' size too (schema/parse_cache.py).
PARSE_CACHE_SIZE = 256
PARSE_CACHE_CHARS = 64 * 1024


@dataclass(frozen=True)
class Protection:
    """Limits on what one operation may ask for (see schema.limits)."""

    limits: Limits = field(default_factory=lambda: Limits(max_depth=12, max_aliases=30, max_cost=5_000,
                                                          max_page=100))
    max_tokens: int = 3_000
    # Off in deployments that do not want their schema explored (also hides "Did you mean").
    introspection: bool = True


class ServedSchema(Schema):
    """strawberry's Schema, with a shorter way through for documents seen before."""

    def __init__(self, *, parsed: ParsedDocuments, passed: PassedDocuments, hide_suggestions: bool,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parsed = parsed
        self._passed = passed
        self._hide_suggestions = hide_suggestions

    def known_document(self, text: str, operation_name: str | None) -> DocumentNode | None:
        """The syntax tree of `text` if it parsed and passed validation before and the operation
        it names is a query or a mutation; None for anything else, which takes `execute`."""
        document = self._parsed.get(text)
        if document is None or text not in self._passed or self.directives:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is DocumentOperationType.SUBSCRIPTION:
            return None
        return document

    async def execute_known(self, document: DocumentNode, variable_values: dict[str, Any] | None,
                            context_value: Any, operation_name: str | None) -> ExecutionResult:
        """What `execute` answers for a `known_document`, without a round of extension hooks:
        for it parsing and validation are cache hits, so coding the errors is all they would do
        (about 0.15 ms of hooks an operation, bench/README.md). Only for a schema without
        directives (`known_document`), whose extension this skips."""
        result = execute(self._schema, document, variable_values=variable_values, operation_name=operation_name,
                         context_value=context_value, executor_class=_Executor, operation_extensions=None,
                         # strawberry's check, as `execute` passes it (typed as a plain predicate there)
                         is_awaitable=optimized_is_awaitable)  # type: ignore[arg-type]
        if isawaitable(result):
            result = await result
        errors = coded(result.errors, hide_suggestions=self._hide_suggestions) if result.errors else None
        return ExecutionResult(data=result.data, errors=errors)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Errors are the caller's or are logged by ErrorCodes with their cause; logging each
        again with a traceback here would bury the unexpected ones."""

    async def execute(
        self, query: str | None, variable_values: dict[str, Any] | None = None, context_value: Any | None = None,
        root_value: Any | None = None, operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """One call, one result: a subscription needs `subscribe` or `stream` (WebSocket, HTTP
        multipart, SSE), so it is refused (InvalidOperationTypeError) instead of run as a query."""
        allowed = set(DEFAULT_ALLOWED_OPERATION_TYPES if allowed_operation_types is None else allowed_operation_types)
        return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                     allowed - {OperationType.SUBSCRIPTION}, operation_extensions)


class _Executor(PassedThrough, PlainFieldsExecutor):
    """Completes plain fields itself, and does not execute again what a cohort rendered."""


def build_schema(protection: Protection = Protection()) -> ServedSchema:
    bound_field_merging()
    # The complexity rule measures the document as validation enters it and aborts the
    # validation on an excess, before the standard rules walk what it would expand to.
    rule = complexity_rule(protection.limits)
    passed = PassedDocuments(DOCUMENT_CACHE_SIZE)
    parsed = ParsedDocuments(PARSE_CACHE_SIZE, PARSE_CACHE_CHARS)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(protection.max_tokens),
        lambda: AddValidationRules([rule]),
        lambda: ErrorCodes(hide_suggestions=not protection.introspection),
        # Caches only documents that parsed; errors take strawberry's own path and keep their codes.
        lambda: ParseOnce(parsed),
        # Every rule here, the complexity one too, depends on the document alone.
        lambda: ValidateOnce(passed),
        OperationNameRequired,
    ]
    if not protection.introspection:
        extensions.append(DisableIntrospection)
    served = ServedSchema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions,
                          execution_context_class=_Executor, parsed=parsed, passed=passed,
                          hide_suggestions=not protection.introspection)
    converter = served.schema_converter
    build_inputs_once([concrete.definition for concrete in converter.type_map.values()
                       if isinstance(concrete.definition, StrawberryObjectDefinition)],
                      converter.scalar_registry, served.config.name_converter.from_field)
    return served
