"""The worker process's background audit: a bounded sample of each index, round after round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from prometheus_client import Gauge

from read_model.indices import IndexDefinition
from sync.verify import Verifier

log = logging.getLogger(__name__)


class DriftCheck:
    """Every `interval_s`, compares about `sample_size` documents of each index with the write
    model and sets the drift gauge per index; `problem()` names what the last round found.
    Only a process whose worker holds the lease (`leading()`) checks: M workers would otherwise
    sample the same documents M times."""

    def __init__(self, verifier: Verifier, gauge: Gauge, definitions: Sequence[IndexDefinition], interval_s: float,
                 sample_size: int, leading: Callable[[], bool]) -> None:
        self._verifier = verifier
        self._leading = leading
        self._gauge = gauge
        self._definitions = definitions
        self._interval_s = interval_s
        self._sample_size = sample_size
        self._drift: dict[str, int] = {}

    async def run(self) -> None:
        """Check round after round until cancelled."""
        self._forget()
        while True:
            if self._leading():
                await self._check_all()
            else:
                self._forget()  # the lease holder's process reports drift now
            await asyncio.sleep(self._interval_s)

    async def _check_all(self) -> None:
        for definition in self._definitions:
            try:
                await self._check(definition)
            except Exception:  # Elasticsearch or the database away: readiness reports that on its own
                log.debug("drift check of %s could not run", definition.name, exc_info=True)

    def _forget(self) -> None:
        self._drift.clear()
        for definition in self._definitions:
            self._gauge.labels(definition.name).set(0)

    async def _check(self, definition: IndexDefinition) -> None:
        findings = await self._verifier.sample(definition, self._sample_size)
        self._drift[definition.name] = len(findings)
        self._gauge.labels(definition.name).set(len(findings))
        for finding in findings[:3]:  # a sample of the sample; `storefront verify` lists them all
            log.warning("read model drift: %s", finding.drift.describe())

    def problem(self) -> str | None:
        """What the last round found, or None when it found no drift."""
        drifted = {name: count for name, count in sorted(self._drift.items()) if count}
        if not drifted:
            return None
        counts = ", ".join(f"{name}: {count}" for name, count in drifted.items())
        return (f"read model drift: {sum(drifted.values())} documents differ from the write model in the last "
                f"sample ({counts}); `storefront verify --repair` repairs them")
