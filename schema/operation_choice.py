"""A document of several operations runs only the one the request names.

The GraphQL spec (GetOperation) makes a request error of a document with more than one
operation and no operation name; strawberry runs the first one instead."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

NAME_REQUIRED = "Must provide operation name if query contains multiple operations."


class OperationNameRequired(SchemaExtension):
    """Refuses before validation, so it must come after ValidateOnce, which would clear it."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # strawberry keeps the name the request gave only there (an InitVar; `operation_name`
        # falls back to the first operation's).
        if context._provided_operation_name is None and document is not None:
            operations = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
            if operations > 1:
                context.pre_execution_errors = [GraphQLError(NAME_REQUIRED)]
        yield
