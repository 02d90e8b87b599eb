"""Typed settings from the STOREFRONT_* environment variables (see OPERATIONS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from read_model.indices import IndexLayout
from server.auth import load_public_key
from server.trusted_documents import TrustedDocuments


class Settings(BaseSettings):
    """Built by the composition root; never a module-level instance."""

    model_config = SettingsConfigDict(env_prefix="STOREFRONT_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./storefront.db"
    elasticsearch_url: str = "http://127.0.0.1:9200"
    index_prefix: str = Field(default="storefront", pattern=r"^[a-z0-9][a-z0-9_.-]{0,100}$")
    # Of every index the server creates (reindex and replay too); replicas want as many more nodes.
    index_shards: int = Field(default=1, ge=1, le=1024)
    index_replicas: int = Field(default=0, ge=0, le=100)
    # Key sources: any of them turns authentication on (see server/auth.py).
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: HttpUrl | None = None
    jwt_public_key: Path | None = None
    # How long fetched JWKS keys are used before a refetch, and the least time between fetches.
    jwt_jwks_cache_s: float = Field(default=300.0, gt=0)
    jwt_jwks_cooldown_s: float = Field(default=30.0, ge=0)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_roles_claim: str = Field(default="roles", min_length=1)
    # The key of the hash emails are unique by (write_model/personal.py); unset, a development one.
    # Set it before the first customer registers and keep it: with another, known emails look new.
    email_hmac_secret: SecretStr | None = Field(default=None, min_length=16)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    consistency_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    max_page_size: int = Field(default=100, ge=1, le=10_000)
    # Each batch ends with a refresh; larger batches spread that cost when there is a backlog.
    sync_batch_size: int = Field(default=2000, ge=1, le=10_000)
    sync_poll_interval_ms: int = Field(default=1000, ge=10, le=60_000)
    elasticsearch_timeout_s: float = Field(default=10.0, gt=0)
    sync_lease_ttl_s: float = Field(default=5.0, gt=0, le=300)
    sync_max_attempts: int = Field(default=3, ge=1, le=100)
    sync_stall_after_s: float = Field(default=60.0, gt=0)
    # The worker process's sampled drift check (sync/drift_check.py): seconds between rounds (0: off)
    # and documents compared per index in a round, which bounds a round's work.
    drift_check_interval_s: float = Field(default=60.0, ge=0)
    drift_check_sample_size: int = Field(default=500, ge=1, le=10_000)
    log_format: Literal["text", "json"] = "text"
    # Changes a subscriber may have waiting before it is dropped as too slow.
    subscription_buffer_size: int = Field(default=256, ge=1, le=100_000)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    connection_init_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # What one request may ask for; see schema/limits.py.
    introspection: bool = True
    max_query_depth: int = Field(default=12, ge=2, le=100)
    max_query_aliases: int = Field(default=30, ge=0, le=10_000)
    max_query_cost: int = Field(default=5_000, ge=10)
    max_query_tokens: int = Field(default=3_000, ge=50)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    operation_timeout_s: float = Field(default=30.0, gt=0)
    # Documents registered by automatic persisted queries, kept by total UTF-8 size (an LRU).
    apq_cache_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # A JSON manifest {sha256 hex: document}; when set only its documents run (server/persisted_documents.py).
    trusted_documents: Path | None = None
    trusted_documents_allow_admin: bool = False
    # max-age of successful answers to GET (server/http_caching.py); 0 makes them no-store.
    get_max_age_s: int = Field(default=5, ge=0, le=86_400)
    # Group commit on SQLite (write_model/writer.py): the commands one transaction may hold, and how
    # long the writer waits for more once it has one (0: it takes whatever is queued, never waiting).
    write_group_max: int = Field(default=64, ge=1, le=10_000)
    write_group_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    # The demo storefront page at /demo (server/demo.py); false answers 404 there.
    demo: bool = True

    @field_validator("jwt_public_key")
    @classmethod
    def _readable_public_key(cls, path: Path | None) -> Path | None:
        if path is not None:
            load_public_key(path)  # its InvalidKeyFile (a ValueError) names the problem
        return path

    @field_validator("trusted_documents")
    @classmethod
    def _valid_manifest(cls, path: Path | None) -> Path | None:
        if path is not None:
            TrustedDocuments.load(path)  # its ManifestError (a ValueError) names the problem
        return path

    @property
    def index_layout(self) -> IndexLayout:
        return IndexLayout(self.index_shards, self.index_replicas)

    @property
    def auth_enabled(self) -> bool:
        """Without any key source the server is in open development mode."""
        return any(source is not None for source in (self.jwt_secret, self.jwt_jwks_url, self.jwt_public_key))
