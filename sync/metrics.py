"""Prometheus metrics of the sync worker, on a registry the composition root owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_indexed = Counter(
            "storefront_sync_events_indexed", "Outbox events indexed into Elasticsearch.", registry=registry
        )
        self.batch_seconds = Histogram(
            "storefront_sync_batch_seconds", "Time to index one batch, retries included.", registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.retries = Counter(
            "storefront_sync_retries", "Indexing attempts that failed and were retried.", registry=registry
        )
        self.parked = Counter(
            "storefront_sync_parked", "Index operations parked as dead letters.", registry=registry
        )
        self.lease_held = Gauge(
            "storefront_sync_lease_held", "1 while this process's worker holds the lease.", registry=registry
        )
        self.head_position = Gauge(
            "storefront_sync_head_position", "Position of the newest event in the outbox.", registry=registry
        )
        self.indexed_position = Gauge(
            "storefront_sync_indexed_position", "Position up to which every event is searchable.", registry=registry
        )
        self.lag = Gauge("storefront_sync_lag_events", "Events written but not yet searchable.", registry=registry)
        self.dead_letters = Gauge(
            "storefront_sync_dead_letters", "Dead letters waiting for a retry.", registry=registry
        )
        self.drift_documents = Gauge(
            "storefront_read_model_drift_documents", "Documents of an index that differ from the write model, "
            "in the last sample the background check took of it.", ["index"], registry=registry,
        )
