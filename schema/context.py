"""What every resolver gets: the command bus, the query stores and the consistency gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from read_model.customers import CustomerStore
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


@dataclass
class Context:
    bus: CommandBus
    products: ProductStore
    customers: CustomerStore
    orders: OrderStore
    read_positions: ReadPositions
    sync_state: SyncState
    consistency_timeout_s: float
    max_page_size: int
