"""Wiring: builds every adapter from the settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass

import logging

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from read_model.indices import ensure_indices

from read_model.customers import CustomerStore
from read_model.orders import OrderStore
from read_model.products import ProductStore
from schema.context import Context
from server.settings import Settings
from sync.positions import IndexedPosition
from sync.status import SyncState
from sync.worker import CONSUMER, SyncWorker, WorkerSettings
from write_model.bus import CommandBus
from write_model.database import Database, create_schema, open_database
from write_model.outbox import Outbox
from write_model.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    database: Database
    elasticsearch: AsyncElasticsearch
    outbox: Outbox
    bus: CommandBus
    positions: IndexedPosition
    worker: SyncWorker

    def context(self) -> Context:
        return Context(
            bus=self.bus,
            products=ProductStore(self.elasticsearch, self.settings.index_prefix),
            customers=CustomerStore(self.elasticsearch, self.settings.index_prefix),
            orders=OrderStore(self.elasticsearch, self.settings.index_prefix),
            read_positions=self.positions,
            sync_state=SyncState(self.outbox),
            consistency_timeout_s=self.settings.consistency_timeout_ms / 1000,
            max_page_size=self.settings.max_page_size,
        )

    async def close(self) -> None:
        await self.elasticsearch.close()
        await self.database.dispose()


def build(settings: Settings, *, local_worker: bool) -> Container:
    """Builds adapters without connecting to anything. `local_worker` wires the worker to
    wake on this process's commits and to publish its position without polling."""
    database = open_database(settings.database_url)
    elasticsearch = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=settings.elasticsearch_timeout_s)
    outbox = Outbox(database)
    bus = CommandBus(lambda: UnitOfWork(database.writer))
    positions = IndexedPosition(lambda: outbox.checkpoint(CONSUMER))
    worker = SyncWorker(
        outbox,
        elasticsearch,
        positions,
        WorkerSettings(
            index_prefix=settings.index_prefix,
            currency=settings.currency,
            batch_size=settings.sync_batch_size,
            poll_interval_s=settings.sync_poll_interval_ms / 1000,
        ),
    )
    if local_worker:
        positions.attach_local_worker()
        bus.on_commit(worker.wake)
    return Container(settings, database, elasticsearch, outbox, bus, positions, worker)


async def migrate(container: Container) -> None:
    await create_schema(container.database)


async def prepare_read_model(container: Container) -> None:
    """Create the indices before serving, so the first query finds them. Elasticsearch being
    down must not stop the API from taking writes: the worker creates them once it answers."""
    try:
        await ensure_indices(container.elasticsearch, container.settings.index_prefix)
    except (TransportError, ApiError) as error:
        log.warning("read model not prepared (Elasticsearch: %s); the sync worker will retry", error)
