"""Gives every top-level error an `extensions.code` and hides internals of unexpected ones."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from read_model.errors import InvalidCursor, ReadModelUnavailable
from schema.failures import BAD_USER_INPUT, INTERNAL, SERVICE_UNAVAILABLE

log = logging.getLogger(__name__)


def _lacks_code(error: GraphQLError) -> bool:
    return "code" not in (error.extensions or {})


class ErrorCodes(MaskErrors):
    """Errors raised before execution (syntax, validation, variable coercion) have no path:
    they are the caller's and keep their message. Errors from resolvers are ours: known
    kinds get their code, anything else becomes INTERNAL with a generic message."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_lacks_code)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if error.path is None or isinstance(original, InvalidCursor):
            return _with_code(error, error.message, BAD_USER_INPUT)
        if isinstance(original, ReadModelUnavailable):
            return _with_code(error, str(original), SERVICE_UNAVAILABLE)
        log.error("unexpected error in %s", ".".join(map(str, error.path)), exc_info=original)
        return _with_code(error, "Internal server error.", INTERNAL)


def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": code},
    )
