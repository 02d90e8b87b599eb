"""What every resolver gets: the command bus, the query stores and the consistency gate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from read_model.customers import CustomerStore
from schema.principal import Principal
from read_model.orders import OrderStore
from read_model.products import ProductStore
from write_model.bus import CommandBus


class ReadPositions(Protocol):
    """How far the read model has caught up (satisfied by the sync package's IndexedPosition)."""

    async def current(self) -> int: ...

    async def wait_for(self, position: int, timeout_s: float) -> bool: ...


class SyncState(Protocol):
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
    def subscribe(
        self,
        matches: Callable[[Any], bool],
        after: int | None = None,
        on_overflow: Callable[[], Awaitable[None]] | None = None,
        # Builds the error raised, on entering or from the stream, while the source is not running.
        unavailable: Callable[[str], Exception] = ...,
    ) -> AbstractAsyncContextManager[AsyncIterator[Any]]: ...


CloseConnection = Callable[[int, str], Awaitable[None]]


@dataclass
class Context:
    bus: CommandBus
    products: ProductStore
    customers: CustomerStore
    orders: OrderStore
    read_positions: ReadPositions
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

    async def identify(self) -> Principal:
        """The principal behind this request or connection (see schema.auth)."""
        if self.connection_params is not None:
            credentials = self.connection_params.get("authorization")
            return await self.authenticate(credentials if isinstance(credentials, str) else None)
        return await self.authenticate(self.authorization)
