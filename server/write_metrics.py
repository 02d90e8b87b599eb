"""The command writer's transactions, for /metrics: with the commands' own count it tells how
many commands a transaction holds (group commit, write_model/writer.py)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from write_model.writer import Writer

WRITE_TRANSACTIONS = "storefront_write_transactions"


class WriteTransactions(Collector):
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(WRITE_TRANSACTIONS, "Write transactions the command writer committed.",
                                  value=self._writer.committed_groups)
