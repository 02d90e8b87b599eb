"""Wiring: builds every adapter from the settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

import logging
import os
import socket
import uuid
from datetime import timedelta

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from prometheus_client import CollectorRegistry

from read_model.indices import ensure_indices

from read_model.customers import CustomerStore
from read_model.orders import OrderStore
from read_model.products import ProductStore
from schema.context import CloseConnection, Context
from server.auth import TokenAuthenticator
from server.settings import Settings
from sync.positions import IndexedPosition
from sync.status import SyncState
from sync.changes import ChangeFeed
from sync.metrics import SyncMetrics
from sync.monitor import SyncMonitor
from sync.worker import CONSUMER, SyncWorker, WorkerSettings
from write_model.bus import CommandBus
from write_model.consumers import DeadLetters, Lease
from write_model.database import Database, create_schema, open_database
from write_model.outbox import Outbox
from write_model.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadStores:
    """The read model's query stores, shared by every request and the change feed."""

    products: ProductStore
    customers: CustomerStore
    orders: OrderStore


@dataclass
class Container:
    settings: Settings
    database: Database
    elasticsearch: AsyncElasticsearch
    stores: ReadStores
    outbox: Outbox
    dead_letters: DeadLetters
    sync_state: SyncState
    bus: CommandBus
    positions: IndexedPosition
    worker: SyncWorker
    monitor: SyncMonitor
    changes: ChangeFeed
    authenticator: TokenAuthenticator
    registry: CollectorRegistry = field(repr=False)

    def context(self, authorization: str | None = None, close_connection: CloseConnection | None = None) -> Context:
        return Context(
            bus=self.bus,
            products=self.stores.products,
            customers=self.stores.customers,
            orders=self.stores.orders,
            read_positions=self.positions,
            sync_state=self.sync_state,
            changes=self.changes,
            consistency_timeout_s=self.settings.consistency_timeout_ms / 1000,
            max_page_size=self.settings.max_page_size,
            authenticate=self.authenticator,
            authorization=authorization,
            close_connection=close_connection,
        )

    async def close(self) -> None:
        await self.elasticsearch.close()
        await self.database.dispose()


def build(settings: Settings, *, local_worker: bool) -> Container:
    """Builds adapters without connecting to anything. `local_worker` wakes the worker on
    this process's commits (it still runs only when the caller starts it)."""
    database = open_database(settings.database_url)
    elasticsearch = AsyncElasticsearch(
        settings.elasticsearch_url,
        request_timeout=settings.elasticsearch_timeout_s,
        # The worker has its own backoff; the client must not sit out a returned node for 30 s.
        max_dead_node_backoff=2.0,
    )
    outbox = Outbox(database)
    dead_letters = DeadLetters(database, CONSUMER)
    bus = CommandBus(lambda: UnitOfWork(database.writer))
    positions = IndexedPosition(lambda: outbox.checkpoint(CONSUMER))
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    worker = SyncWorker(
        outbox,
        dead_letters,
        Lease(database, CONSUMER, _owner_name(), timedelta(seconds=settings.sync_lease_ttl_s)),
        elasticsearch,
        positions,
        metrics,
        WorkerSettings(
            index_prefix=settings.index_prefix,
            currency=settings.currency,
            batch_size=settings.sync_batch_size,
            poll_interval_s=settings.sync_poll_interval_ms / 1000,
            max_attempts=settings.sync_max_attempts,
        ),
    )
    if local_worker:
        bus.on_commit(worker.wake)
    monitor = SyncMonitor(outbox, CONSUMER, dead_letters, metrics, settings.sync_stall_after_s)
    prefix = settings.index_prefix
    stores = ReadStores(ProductStore(elasticsearch, prefix), CustomerStore(elasticsearch, prefix),
                        OrderStore(elasticsearch, prefix))
    changes = ChangeFeed(outbox, positions, stores.products, stores.orders, registry,
                         buffer_size=settings.subscription_buffer_size)
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return Container(settings, database, elasticsearch, stores, outbox, dead_letters, SyncState(outbox, dead_letters),
                     bus, positions, worker, monitor, changes, TokenAuthenticator(secret), registry)


def _owner_name() -> str:
    """Names this worker in the lease: host and pid for people, a random part for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def migrate(container: Container) -> None:
    await create_schema(container.database)


async def prepare_read_model(container: Container) -> None:
    """Create the indices before serving, so the first query finds them. Elasticsearch being
    down must not stop the API from taking writes: the worker creates them once it answers."""
    try:
        await ensure_indices(container.elasticsearch, container.settings.index_prefix)
    except (TransportError, ApiError) as error:
        log.warning("read model not prepared (Elasticsearch: %s); the sync worker will retry", error)
