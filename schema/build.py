"""Assembles the served GraphQL schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from schema.error_codes import ErrorCodes
from schema.limits import Limits, complexity_rule
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription


DOCUMENT_CACHE_SIZE = 512


@dataclass(frozen=True)
class Protection:
    """Limits on what one operation may ask for (see schema.limits)."""

    limits: Limits = field(default_factory=lambda: Limits(max_depth=12, max_aliases=30, max_cost=5_000,
                                                          max_page=100))
    max_tokens: int = 3_000
    # Off in deployments that do not want their schema explored (also hides "Did you mean").
    introspection: bool = True


class _Schema(Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Errors are the caller's or are logged by ErrorCodes with their cause; logging each
        again with a traceback here would bury the unexpected ones."""


def build_schema(protection: Protection = Protection()) -> Schema:
    rule = complexity_rule(protection.limits)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(protection.max_tokens),
        lambda: AddValidationRules([rule]),
        lambda: ErrorCodes(hide_suggestions=not protection.introspection),
        # Clients send the same few documents again and again: validate each once (every rule
        # here, the complexity one too, depends on the document alone). strawberry's ParserCache
        # is left out: a syntax error raised in its hook escapes ErrorCodes and loses its code.
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]
    if not protection.introspection:
        extensions.append(DisableIntrospection)
    return _Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions)
