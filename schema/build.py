"""Assembles the served GraphQL schema."""

from __future__ import annotations

import strawberry

from schema.error_codes import ErrorCodes
from schema.mutation import Mutation
from schema.query import Query


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[ErrorCodes])
