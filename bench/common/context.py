"""One suite run: where its files go, the names it gives its stores, and what benchmarks share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bench.common.catalog import load_corpus
from read_model.indices import delete_indices
from server.settings import Settings


class _OwnSettings(Settings):
    """Settings from the values given and the defaults only: the STOREFRONT_* variables of the
    caller's shell must not reach the benchmarks (a JWT secret there would lock the load out)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class Run:
    smoke: bool
    profile: bool
    out: Path
    # SQLite files and server logs; a temporary folder the suite removes.
    work: Path
    es_url: str
    # Every index of the run starts with it, so the run deletes exactly its own indices.
    run_id: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    # Every profile handed out, so the suite can attach each to the benchmark that wrote it.
    profiles: list[Path] = field(default_factory=list)
    _client: AsyncElasticsearch | None = None
    _corpora: dict[int, str] = field(default_factory=dict)

    def settings(self, name: str, **overrides: Any) -> Settings:
        """Settings for a fresh SQLite file and index prefix named `name` within this run."""
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{self.work / name}.db",
            "elasticsearch_url": self.es_url,
            "index_prefix": f"{self.run_id}-{name}",
            "log_level": "WARNING",
            **overrides,
        }
        return _OwnSettings(**values)

    @property
    def elasticsearch(self) -> AsyncElasticsearch:
        """The suite's own client, for baselines, loading and checks."""
        if self._client is None:
            self._client = AsyncElasticsearch(self.es_url, request_timeout=120)
        return self._client

    def profile_file(self, name: str) -> Path | None:
        """Where our side of a benchmark writes its profile when the run profiles; else None."""
        if not self.profile:
            return None
        path = self.out / "profiles" / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a profile left by an earlier run must not pass for this one's
        self.profiles.append(path)
        return path

    def log_path(self, name: str) -> Path:
        return self.work / f"{name}.log"

    async def product_corpus(self, count: int) -> str:
        """The index prefix of `count` products loaded once per run (B4 and B5 read the same)."""
        if count not in self._corpora:
            prefix = f"{self.run_id}-corpus-{count}"
            await load_corpus(self.elasticsearch, prefix, count)
            self._corpora[count] = prefix
        return self._corpora[count]

    async def close(self) -> None:
        await delete_indices(self.elasticsearch, self.run_id)
        await self.elasticsearch.close()
