"""Assembles the served GraphQL schema."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry import Schema
from strawberry.types import ExecutionContext

from schema.error_codes import ErrorCodes
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription


class _Schema(Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Errors are the caller's or are logged by ErrorCodes with their cause; logging each
        again with a traceback here would bury the unexpected ones."""


def build_schema() -> Schema:
    return _Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=[ErrorCodes])
