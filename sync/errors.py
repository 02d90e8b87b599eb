"""Failures of the sync package, under one base.

    SyncError
    ├── LeaseLost        another worker took the lease; this one drops its batch
    ├── ReindexError     Elasticsearch refused documents of a new index; the alias was left as it was
    ├── RepairError      Elasticsearch refused to put a drifted document right
    └── worker._Unfinished   (private) some operations of a batch still have to go through

Elasticsearch's own errors (`TransportError`, `ApiError`) are retried where they happen and
reach callers unchanged only where retrying is not the caller's wish (reindex, redelivery).
"""


class SyncError(Exception):
    """Base of sync failures."""


class LeaseLost(SyncError):
    """Another worker took over; this one drops its batch (the new holder redoes it)."""


class ReindexError(SyncError):
    """Elasticsearch refused documents of the new index; the alias was left as it was."""


class RepairError(SyncError):
    """Elasticsearch refused to put a drifted document right; the others were repaired."""
