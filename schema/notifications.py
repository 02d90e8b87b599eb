"""Subscription notifications rendered once per cohort and sent as rendered.

Subscribers with the same document, variables and authorization scope form a cohort
(sync/changes.py). For each change the cohort runs its document once, with an executor made
from its first member's operation, and encodes the result once: a `Notification`. Its members
get those very bytes:

- over a WebSocket, the protocol handler gives each operation a sender (`notification_sender`,
  set while the operation's task is created, so that the task inherits it), and the resolver
  sends the payload through it: it goes out in a frame with the operation's own id, without
  strawberry's per-result work;
- over an HTTP stream (multipart, SSE), the resolver yields the notification: `PassedThrough`
  hands back its result instead of executing the document for it again, and the transport
  sends the payload of its `RenderedData`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import strawberry
from graphql import DocumentNode, ExecutionResult, GraphQLError, OperationDefinitionNode, print_ast
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.context import Change, Context
from schema.error_codes import coded

Info = strawberry.Info[Context, None]

# Sends a notification's payload (its JSON) to the subscriber of the current operation.
SendNotification = Callable[[str], Awaitable[None]]
notification_sender: ContextVar[SendNotification | None] = ContextVar("notification_sender", default=None)


class RenderedData(dict[str, Any]):
    """A notification's `data`, carrying the JSON of its whole payload for the HTTP streams to send."""

    __slots__ = ("payload",)

    def __init__(self, data: dict[str, Any], payload: str) -> None:
        super().__init__(data)
        self.payload = payload


@dataclass(frozen=True, slots=True)
class Notification:
    """One change as the members of a cohort receive it."""

    result: ExecutionResult
    # {"data": ..., "errors": [...]} as JSON: what each protocol wraps in its own frame.
    payload: str


Render = Callable[[Change], Notification]


# Each parsed document printed once: the parse cache hands every copy of a text the same tree.
_printed: WeakKeyDictionary[OperationDefinitionNode, str] = WeakKeyDictionary()


def cohort_of(info: Info, scope: Hashable) -> Hashable:
    """Who shares this subscriber's notifications: the same document (as printed, so spacing and
    comments do not matter), the same variables and the same authorization scope."""
    operation = _graphql_info(info).operation
    printed = _printed.get(operation)
    if printed is None:
        printed = _printed[operation] = print_ast(_document(info))
    return printed, json.dumps(info.variable_values, sort_keys=True, default=str), scope


def renderer(info: Info, root: Callable[[Change], object]) -> Render:
    """Renders changes for this subscriber's cohort: its document runs against each change's
    `root`, as graphql-core runs a subscription event, and the result is encoded once."""
    # The values were coerced from these very definitions, and the variables a subscription here
    # can use (IDs, Strings, the Booleans of @include and @skip) coerce to themselves.
    built = info.schema.execution_context_class.build(
        _graphql_info(info).schema, _document(info), None, info.context, info.variable_values)
    if isinstance(built, list):
        raise GraphQLError(f"The subscription cannot be prepared: {built[0].message}")
    executor = built
    field = info.path.key

    def render(change: Change) -> Notification:
        try:
            event = root(change)
        except Exception as error:  # a change that cannot be shown must not stop the feed for every cohort
            return _encoded(ExecutionResult(None, [GraphQLError(str(error), path=[field], original_error=error)]))
        result = executor.build_per_event_executor(event).execute_operation(False)
        if not isinstance(result, ExecutionResult):  # an awaitable: a field under the subscription is async
            raise TypeError("notifications are rendered synchronously (sync/changes.py): no field of a "
                            "subscription's result may resolve asynchronously")
        return _encoded(result)

    return render


def _encoded(result: ExecutionResult) -> Notification:
    errors = coded(result.errors) if result.errors else None
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = [error.formatted for error in errors]
    payload = json.dumps(body, separators=(",", ":"))
    data = None if result.data is None else RenderedData(result.data, payload)
    return Notification(ExecutionResult(data, errors), payload)


def _graphql_info(info: Info) -> Any:
    # strawberry's Info keeps graphql-core's as `_raw_info`: the schema and fragments are only there.
    return info._raw_info


def _document(info: Info) -> DocumentNode:
    """The operation being run, with the fragments it may spread."""
    graphql_info = _graphql_info(info)
    return DocumentNode(definitions=(graphql_info.operation, *graphql_info.fragments.values()))


class PassedThrough(StrawberryGraphQLCoreExecutionContext):
    """An executor that hands back a rendered notification's result rather than executing the
    document for it again (the HTTP streams' notifications arrive as subscription events)."""

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Any]:
        if isinstance(self.root_value, Notification):
            return self.root_value.result
        return super().execute_operation(serially)
