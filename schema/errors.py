"""Top-level GraphQL errors, each with the contract's `extensions.code`, raised for malformed
requests, auth and limits. Business failures are not errors: they are the union members of
schema/results.py. schema/error_codes.py gives a code to the errors raised by anything else."""

from __future__ import annotations

from graphql import GraphQLError

BAD_USER_INPUT = "BAD_USER_INPUT"
STALE_READ = "STALE_READ"
INTERNAL = "INTERNAL"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"


class CodedError(GraphQLError):
    code = INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class BadUserInput(CodedError):
    code = BAD_USER_INPUT


class StaleRead(CodedError):
    code = STALE_READ


class Unauthenticated(CodedError):
    code = UNAUTHENTICATED


class Forbidden(CodedError):
    code = FORBIDDEN


class ServiceUnavailable(CodedError):
    code = SERVICE_UNAVAILABLE


class PersistedQueryNotFound(CodedError):
    """Apollo's persisted-query links look for this exact message (or the code) to resend the
    operation with its full text."""

    code = PERSISTED_QUERY_NOT_FOUND

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryRequired(CodedError):
    code = PERSISTED_QUERY_REQUIRED
