"""Fixtures for tests that need the read model: one real Elasticsearch node per test session and
a unique index prefix per test, so tests never see each other's data. Registered for every test
by tests/conftest.py; a test pays for the node only when it asks for one of these."""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from devtools.elasticsearch import node as dev_elasticsearch
from devtools.health import answers
from devtools.project import Project
from read_model.indices import delete_indices
from server.bootstrap import Container, build, migrate
from server.settings import Settings
from tests.support import PROJECT_ROOT, SECRET, Api, LiveServer, Secured, running_server

DEFAULT_ES_URL = "http://127.0.0.1:9200"
# Several test sessions may share one node: each drops only the indices of its own run.
SESSION_PREFIX = f"test-{uuid.uuid4().hex[:6]}"


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
    started = dev_elasticsearch.urls(dev_elasticsearch.start(project, 9200))
    yield started
    _drop_test_indices(started)
    dev_elasticsearch.stop(project)


def _drop_test_indices(url: str) -> None:
    """Indices a test of this run left behind when it was interrupted; the node's data outlives the run."""
    request = urllib.request.Request(f"{url}/{SESSION_PREFIX}-*?ignore_unavailable=true&allow_no_indices=true",
                                     method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


@pytest.fixture
def settings(database_url: str, es_url: str) -> Settings:
    return Settings(
        database_url=database_url,
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


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The server with its in-process worker."""
    async with running_server(settings) as (url, app):
        yield LiveServer(url, app)


@pytest.fixture
async def api(live_server: LiveServer) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
        yield Api(client)


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[Secured]:
    """A server with authentication on (tokens for it: tests.support.token), and a client without credentials."""
    with_auth = settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    async with running_server(with_auth) as (url, _app), httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield Secured(url, http)
