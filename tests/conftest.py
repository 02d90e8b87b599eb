"""Shared fixtures: one real Elasticsearch node per test session, a fresh SQLite file and a
unique index prefix per test, so tests never see each other's data."""

from __future__ import annotations

import asyncio
import os
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from elasticsearch import AsyncElasticsearch
from starlette.applications import Starlette

from devtools.elasticsearch import node as dev_elasticsearch
from devtools.health import answers
from devtools.project import Project
from read_model.indices import delete_indices
from server.app import create_app
from server.bootstrap import Container, build, migrate
from server.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ES_URL = "http://127.0.0.1:9200"


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """The node the test command started, or one this session starts (and stops) itself."""
    url = os.environ.get("STOREFRONT_ELASTICSEARCH_URL", DEFAULT_ES_URL)
    if answers(url):
        yield url
        _drop_test_indices(url)
        return
    if url != DEFAULT_ES_URL:
        pytest.fail(f"Elasticsearch at {url} does not answer")
    project = Project.find(PROJECT_ROOT)
    started = dev_elasticsearch.start(project, 9200)
    yield started
    _drop_test_indices(started)
    dev_elasticsearch.stop(project)


# Several test sessions may share one node: each drops only the indices of its own run.
SESSION_PREFIX = f"test-{uuid.uuid4().hex[:6]}"


def _drop_test_indices(url: str) -> None:
    """Indices a test of this run left behind when it was interrupted; the node's data outlives the run."""
    request = urllib.request.Request(f"{url}/{SESSION_PREFIX}-*?ignore_unavailable=true&allow_no_indices=true",
                                     method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


@pytest.fixture
def settings(tmp_path: Path, es_url: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'write.db'}",
        elasticsearch_url=es_url,
        index_prefix=f"{SESSION_PREFIX}-{uuid.uuid4().hex[:12]}",
        consistency_timeout_ms=15_000,
        sync_poll_interval_ms=200,
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """Wired adapters without a running worker: tests drive the worker themselves."""
    container = build(settings, local_worker=False)
    await migrate(container)
    yield container
    await delete_indices(container.elasticsearch, settings.index_prefix)
    await container.close()


class Api:
    """A GraphQL client over real HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code in (200, 400), response.text
        body: dict[str, Any] = response.json()
        return body

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an operation that must succeed; returns its `data`."""
        body = await self.raw(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@asynccontextmanager
async def running_server(
    settings: Settings, run_worker: bool = True, clean_up: bool = True
) -> AsyncIterator[tuple[str, Starlette]]:
    """`storefront serve` in this process on a free loopback port; yields its URL and app.
    `clean_up` drops the test's indices afterwards (off when Elasticsearch is not there)."""
    app = create_app(settings, run_worker=run_worker)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "server failed to start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", app
    finally:
        server.should_exit = True
        await task
        if clean_up:
            async with AsyncElasticsearch(settings.elasticsearch_url) as client:
                await delete_indices(client, settings.index_prefix)


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The server with its in-process worker."""
    async with running_server(settings) as (url, _app):
        yield url


@pytest.fixture
async def api(live_server: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as client:
        yield Api(client)
