"""What every resolver gets: the command bus, the query stores and the consistency gate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from read_model.customers import CustomerStore
from read_model.history import HistoryStore
from read_model.orders import OrderStore
from read_model.products import ProductStore
from schema.principal import Principal
from write_model.bus import CommandBus

N = TypeVar("N")  # a notification, as the subscriber's renderer makes it


class IndexedPosition(Protocol):
    """How far the read model has caught up: the position up to which every event is searchable
    (satisfied by the sync package's IndexedPositionTracker)."""

    async def current(self) -> int: ...

    async def wait_for(self, position: int, timeout_s: float) -> bool: ...


class SyncState(Protocol):
    """The write side of the sync status (satisfied by the sync package's WriteSideStatus)."""

    async def head_position(self) -> int: ...

    async def dead_letter_count(self) -> int: ...


class Change(Protocol):
    """A change that is searchable now (satisfied by the sync package's Change)."""

    @property
    def stream_type(self) -> str: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def document(self) -> dict[str, Any] | None: ...


class ChangeSource(Protocol):
    """Notifications of changes (satisfied by the sync package's ChangeFeed): those to streams of
    `stream_type`, narrowed to `stream_id` and to `customer_id`'s where not None, each rendered
    once for all subscribers of the same `cohort` by the `prepare()` of its first one."""

    def subscribe(
        self,
        stream_type: str,
        stream_id: str | None,
        customer_id: str | None,
        *,
        cohort: Hashable,
        prepare: Callable[[], Callable[[Change], N]],
        after: int | None = None,
        on_overflow: Callable[[], Awaitable[None]] | None = None,
        # Builds the error raised, on entering or from the stream, while the source is not running.
        unavailable: Callable[[str], Exception] = ...,
    ) -> AbstractAsyncContextManager[AsyncIterator[N]]: ...


CloseConnection = Callable[[int, str], Awaitable[None]]


@dataclass
class Context:
    bus: CommandBus
    products: ProductStore
    customers: CustomerStore
    orders: OrderStore
    history: HistoryStore
    indexed_position: IndexedPosition
    sync_state: SyncState
    changes: ChangeSource
    consistency_timeout_s: float
    max_page_size: int
    # Turns the presented credentials (None: none) into a principal, raising on bad ones;
    # async because it may have to fetch an identity provider's keys.
    authenticate: Callable[[str | None], Awaitable[Principal]]
    # The `Authorization` header of an HTTP request.
    authorization: str | None = None
    # Set by strawberry from a WebSocket's `connection_init` payload.
    connection_params: dict[str, Any] | None = None
    # Set on WebSocket connections: ends the whole connection (slow subscribers, expired tokens).
    close_connection: CloseConnection | None = None
    # Every guarded resolver asks; the credentials are checked once per request or connection.
    _principal: Principal | None = field(default=None, init=False, repr=False)

    async def identify(self) -> Principal:
        """The principal behind this request or connection (see schema.auth). Until its token
        expires it is kept; bad credentials are not, so each asker gets their error."""
        principal = self._principal
        if principal is None or (principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)):
            principal = self._principal = await self.authenticate(self._credentials())
        return principal

    def _credentials(self) -> str | None:
        if self.connection_params is not None:
            credentials = self.connection_params.get("authorization")
            return credentials if isinstance(credentials, str) else None
        return self.authorization
