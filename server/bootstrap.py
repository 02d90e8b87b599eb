"""Wiring: builds every adapter from the settings, in one place."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from read_model.customers import CustomerStore
from read_model.history import HistoryStore
from read_model.indices import ALL_INDICES, ensure_indices
from read_model.orders import OrderStore
from read_model.products import ProductStore
from schema.context import CloseConnection, Context
from server.auth import ClaimRules, TokenAuthenticator, load_public_key
from server.jwks import JwksKeys
from server.persisted_documents import DocumentCache, PersistedDocuments
from server.settings import Settings
from server.trusted_documents import TrustedDocuments
from server.write_metrics import WriteTransactions
from sync.changes import ChangeFeed
from sync.drift_check import DriftCheck
from sync.indexing import Indexer
from sync.metrics import SyncMetrics
from sync.monitor import SyncMonitor
from sync.positions import IndexedPositionTracker
from sync.redelivery import Redelivery
from sync.status import WriteSideStatus
from sync.verify import Verifier
from sync.worker import CONSUMER, PASS_SECONDS, SyncWorker, WorkerSettings
from write_model.bus import CommandBus
from write_model.consumers import DeadLetters, Tracking
from write_model.database import Database, create_schema, open_database
from write_model.outbox import Outbox
from write_model.personal import DEVELOPMENT_EMAIL_KEYS, EmailKeys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadStores:
    """The read model's query stores, shared by every request and the change feed."""

    products: ProductStore
    customers: CustomerStore
    orders: OrderStore
    history: HistoryStore


@dataclass
class Container:
    settings: Settings
    database: Database
    elasticsearch: AsyncElasticsearch
    stores: ReadStores
    outbox: Outbox
    tracking: Tracking
    dead_letters: DeadLetters
    redelivery: Redelivery
    sync_state: WriteSideStatus
    bus: CommandBus
    indexed_position: IndexedPositionTracker
    worker: SyncWorker
    monitor: SyncMonitor
    changes: ChangeFeed
    authenticator: TokenAuthenticator
    registry: CollectorRegistry = field(repr=False)
    documents: PersistedDocuments = field(repr=False)
    verifier: Verifier = field(repr=False)
    drift_check: DriftCheck = field(repr=False)

    def context(self, authorization: str | None = None, close_connection: CloseConnection | None = None) -> Context:
        return Context(
            bus=self.bus,
            products=self.stores.products,
            customers=self.stores.customers,
            orders=self.stores.orders,
            history=self.stores.history,
            indexed_position=self.indexed_position,
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
    database = _open_write_model(settings)
    elasticsearch = _elasticsearch_client(settings)
    outbox = Outbox(database)
    tracking = Tracking(database, CONSUMER)
    dead_letters = tracking.dead_letters()
    bus = CommandBus(database.commands, scrubber=database.scrubber)
    indexed_position = IndexedPositionTracker(tracking.position)
    registry = CollectorRegistry()
    registry.register(WriteTransactions(database.commands))
    metrics = SyncMetrics(registry)
    worker = SyncWorker(
        outbox,
        tracking,
        dead_letters,
        tracking.lease(_owner_name(), timedelta(seconds=settings.sync_lease_ttl_s)),
        elasticsearch,
        indexed_position,
        metrics,
        WorkerSettings(
            index_prefix=settings.index_prefix,
            currency=settings.currency,
            batch_size=settings.sync_batch_size,
            poll_interval_s=settings.sync_poll_interval_ms / 1000,
            max_attempts=settings.sync_max_attempts,
            # The lease is renewed between passes: a pass stays well inside it.
            pass_seconds=min(PASS_SECONDS, settings.sync_lease_ttl_s / 4),
            index_layout=settings.index_layout,
        ),
    )
    if local_worker:
        bus.on_commit(lambda _position: worker.wake())
    monitor = SyncMonitor(outbox, tracking, dead_letters, metrics, settings.sync_stall_after_s)
    redelivery = Redelivery(outbox, dead_letters, Indexer.through_aliases(elasticsearch, settings.index_prefix),
                            settings.currency)
    prefix = settings.index_prefix
    stores = ReadStores(ProductStore(elasticsearch, prefix), CustomerStore(elasticsearch, prefix),
                        OrderStore(elasticsearch, prefix), HistoryStore(elasticsearch, prefix))
    verifier = Verifier(database, outbox, elasticsearch, prefix, settings.currency, indexed_position)
    changes = ChangeFeed(outbox, indexed_position, settings.currency, registry,
                         buffer_size=settings.subscription_buffer_size)
    return Container(settings, database, elasticsearch, stores, outbox, tracking, dead_letters, redelivery,
                     WriteSideStatus(outbox, dead_letters),
                     bus, indexed_position, worker, monitor, changes, _authenticator(settings), registry,
                     _persisted_documents(settings), verifier=verifier,
                     drift_check=DriftCheck(verifier, metrics.drift_documents, ALL_INDICES,
                                            settings.drift_check_interval_s, settings.drift_check_sample_size,
                                            leading=lambda: indexed_position.local_active))


def _persisted_documents(settings: Settings) -> PersistedDocuments:
    trusted = None if settings.trusted_documents is None else TrustedDocuments.load(settings.trusted_documents)
    return PersistedDocuments(DocumentCache(settings.apq_cache_bytes), trusted,
                              allow_admin=settings.trusted_documents_allow_admin)


def _authenticator(settings: Settings) -> TokenAuthenticator:
    jwks = None if settings.jwt_jwks_url is None else JwksKeys(
        str(settings.jwt_jwks_url), max_age_s=settings.jwt_jwks_cache_s, cooldown_s=settings.jwt_jwks_cooldown_s)
    return TokenAuthenticator(
        secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        public_key=load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None,
        jwks=jwks,
        rules=ClaimRules(settings.jwt_issuer, settings.jwt_audience, settings.jwt_roles_claim),
    )


class SettingError(ValueError):
    """A setting names something this process cannot use: which variable, and what to do."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")


_DATABASE_URL = "STOREFRONT_DATABASE_URL"
_ASYNC_DATABASES = "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host/name"


def _open_write_model(settings: Settings) -> Database:
    """`open_database`, with each way a URL can be unusable named before anything connects."""
    url = settings.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:  # the URL itself is not echoed: it may hold a password
        raise SettingError(_DATABASE_URL, f"not a database URL; {_ASYNC_DATABASES}") from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise SettingError(_DATABASE_URL, f"SQLAlchemy knows no database {parsed.drivername!r}; "
                                          f"{_ASYNC_DATABASES}") from None
    if not dialect.get_async_dialect_cls(parsed).is_async:
        raise SettingError(_DATABASE_URL, f"{parsed.get_backend_name()}+{dialect.driver} is not an asyncio "
                                          f"driver; {_ASYNC_DATABASES}")
    _check_sqlite_file(parsed)
    try:
        return open_database(url, email_keys=_email_keys(settings), write_group_max=settings.write_group_max,
                             write_group_wait_s=settings.write_group_wait_ms / 1000)
    except ImportError as error:
        raise SettingError(_DATABASE_URL, f"its driver needs the Python module {error.name}, which is not "
                                          f"installed (pip install {error.name})") from None


def _email_keys(settings: Settings) -> EmailKeys:
    if settings.email_hmac_secret is None:
        if settings.auth_enabled:
            log.warning("STOREFRONT_EMAIL_HMAC_SECRET is unset: emails are hashed with the development key, "
                        "which anyone can use to match the hashes against a list of emails")
        return DEVELOPMENT_EMAIL_KEYS
    return EmailKeys(settings.email_hmac_secret.get_secret_value().encode())


def _check_sqlite_file(url: URL) -> None:
    """SQLite creates the file but not its directory, and then says only "unable to open database file"."""
    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        return
    if url.database in (None, "", ":memory:"):  # each engine, the writer and the reader, would get its own
        raise SettingError(_DATABASE_URL, "an in-memory SQLite database cannot be shared by the writer and "
                                          "the readers; name a file, e.g. sqlite+aiosqlite:///./storefront.db")
    directory = Path(url.database).parent
    if not directory.is_dir():
        raise SettingError(_DATABASE_URL, f"the directory {directory} of the SQLite file does not exist; "
                                          "create it or name another path")


class _OrjsonNdjsonSerializer(NdjsonSerializer, OrjsonSerializer):
    """Bulk bodies a line at a time, each line by orjson."""


# orjson decodes a page of search hits and encodes a bulk body several times faster than the
# standard library (bench/README.md, R1 and B1); the client's compatibility mimetypes follow these.
_ORJSON_SERIALIZERS = {OrjsonSerializer.mimetype: OrjsonSerializer(),
                       _OrjsonNdjsonSerializer.mimetype: _OrjsonNdjsonSerializer()}


def _elasticsearch_client(settings: Settings) -> AsyncElasticsearch:
    # Several nodes may be named, comma-separated (OPERATIONS.md); the client fails over between them.
    # No sniffing (nodes' published addresses are often unreachable behind proxies) and no retry on
    # timeout (a slow cluster would get each slow request twice): docs/deploy.md.
    nodes = [node.strip() for node in settings.elasticsearch_url.split(",") if node.strip()]
    try:
        return AsyncElasticsearch(
            nodes,
            request_timeout=settings.elasticsearch_timeout_s,
            serializers=_ORJSON_SERIALIZERS,
            # The worker has its own backoff; the client must not sit out a returned node for 30 s.
            max_dead_node_backoff=2.0,
        )
    except ValueError as error:  # the client's own words, e.g. "URL must include a 'scheme'..."
        raise SettingError("STOREFRONT_ELASTICSEARCH_URL", str(error)) from None


def _owner_name() -> str:
    """Names this worker in the lease: host and pid for people, a random part for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def migrate(container: Container) -> None:
    await create_schema(container.database)


async def prepare_read_model(container: Container) -> None:
    """Create the indices before serving, so the first query finds them. Elasticsearch being
    down must not stop the API from taking writes: the worker creates them once it answers."""
    try:
        await ensure_indices(container.elasticsearch, container.settings.index_prefix, container.settings.index_layout)
    except (TransportError, ApiError) as error:
        log.warning("read model not prepared (Elasticsearch: %s); the sync worker will retry", error)
