"""The schema extension that gives every top-level error an `extensions.code` (the coded
errors of schema/errors.py keep theirs) and hides internals of unexpected ones."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from graphql import GraphQLError
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import MaskErrors

from read_model.errors import InvalidCursor, ReadModelUnavailable
from schema.errors import BAD_USER_INPUT, INTERNAL, QUERY_TOO_COMPLEX, SERVICE_UNAVAILABLE
from write_model.availability import is_unavailable
from write_model.errors import WriteModelUnavailable

log = logging.getLogger(__name__)

# Set per HTTP request or WebSocket connection by the server; echoed on internal errors so a
# user's report can be matched with the log line that has the traceback.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_SUGGESTION = re.compile(r" Did you mean .*\?$")
# graphql-core's parser says this when the document has more tokens than allowed.
_TOO_MANY_TOKENS = re.compile(r"^Syntax Error: Document contains more than \d+ tokens")


def _lacks_code(error: GraphQLError) -> bool:
    return "code" not in (error.extensions or {})


class ErrorCodes(MaskErrors):
    """Errors raised before execution (syntax, validation, variable coercion) have no path:
    they are the caller's and keep their message. Errors from resolvers are ours: known
    kinds get their code, anything else becomes INTERNAL with a generic message."""

    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__(should_mask_error=_lacks_code)
        self._hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        # Too many tokens, or validation gave up on a document too costly to check (graphql-core's
        # field-merging budget, its error limit, fragments nested past its recursion guard).
        if _TOO_MANY_TOKENS.match(error.message) or isinstance(error, ValidationAbortedError):
            return _with_code(error, error.message, QUERY_TOO_COMPLEX)
        if error.path is None or isinstance(original, InvalidCursor):
            message = _SUGGESTION.sub("", error.message) if self._hide_suggestions else error.message
            return _with_code(error, message, BAD_USER_INPUT)
        if isinstance(original, (ReadModelUnavailable, WriteModelUnavailable)):
            return _with_code(error, str(original), SERVICE_UNAVAILABLE)
        if original is not None and is_unavailable(original):  # e.g. consistentWith reading the checkpoint
            log.warning("the write model does not answer in %s: %s", ".".join(map(str, error.path)), original)
            return _with_code(error, "The write model does not answer; try again shortly.", SERVICE_UNAVAILABLE)
        reference = request_id.get()
        log.error("unexpected error in %s (request %s)", ".".join(map(str, error.path)), reference,
                  exc_info=original)
        masked = _with_code(error, "Internal server error.", INTERNAL)
        if reference:
            masked.extensions = {**(masked.extensions or {}), "requestId": reference}
        return masked


def coded(errors: list[GraphQLError], *, hide_suggestions: bool = False) -> list[GraphQLError]:
    """`errors` as ErrorCodes shows them, for results made outside an operation's extensions."""
    codes = ErrorCodes(hide_suggestions)
    return [codes.anonymise_error(error) if _lacks_code(error) else error for error in errors]


def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": code},
    )
