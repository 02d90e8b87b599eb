"""Helpers shared by the tests: waiting for a condition, a server on loopback and a GraphQL
client for it, the `storefront` command, and the read model checked against the write model."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import httpx
import jwt
import uvicorn
from elasticsearch import AsyncElasticsearch
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from read_model.indices import CUSTOMERS, ORDERS, PRODUCTS, IndexDefinition, delete_indices, ensure_indices
from server.app import create_app
from server.bootstrap import Container
from server.settings import Settings
from sync.projections import project
from write_model.database import Database
from write_model.snapshots import KINDS, open_snapshot
from write_model.tables import ProductRow
from write_model.unit_of_work import UnitOfWork
from write_model.writer import GroupCommitWriter, UnitsOfWork

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STOREFRONT = str(Path(sys.executable).with_name("storefront"))
POLL_INTERVAL_S = 0.02

Describe = str | Callable[[], str]


def unused_port() -> int:
    """A loopback port nothing listens on (free now; a test binds it or shows it refuses)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unused_ports(count: int, also_at: int = 0) -> int:
    """The first of `count` consecutive loopback ports nothing listens on, and with `also_at`, of
    as many more free from that far above it (an Elasticsearch cluster's HTTP and transport ports).
    Picked below the ephemeral range, where outgoing connections take theirs."""
    rng = random.Random()
    for _ in range(100):
        first = rng.randrange(20_000, 30_000)
        ports = [first + n for n in range(count)] + ([first + also_at + n for n in range(count)] if also_at else [])
        if all(_free(port) for port in ports):
            return first
    raise AssertionError(f"no {count} free consecutive loopback ports found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@overload
async def wait_until(condition: Callable[[], Awaitable[T | None]], timeout_s: float, describe: Describe) -> T: ...


@overload
async def wait_until(condition: Callable[[], T | None], timeout_s: float, describe: Describe) -> T: ...


async def wait_until(condition: Callable[[], Any], timeout_s: float, describe: Describe) -> Any:
    """Poll `condition` (a plain or an async function) until it returns something truthy, and
    return that. When `timeout_s` passes first, fail with `describe`: what was awaited, or a
    function saying it, called at the deadline to show the state reached."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return outcome
        if loop.time() >= deadline:
            what = describe() if callable(describe) else describe
            raise AssertionError(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(POLL_INTERVAL_S)


async def until_subscriptions_open(container: Container, count: int, timeout_s: float = 30) -> None:
    """Until the server counts `count` subscriptions open: a change committed from then on reaches them."""
    changes = container.changes
    await wait_until(lambda: changes.open_subscriptions == count, timeout_s,
                     lambda: f"{count} subscriptions open; {changes.open_subscriptions} are")


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


SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(subject: str, roles: list[str], *, expires_in_s: float = 600, secret: str = SECRET) -> str:
    """A bearer token for a server whose `jwt_secret` is `secret`."""
    claims = {"sub": subject, "roles": roles, "exp": int(time.time() + expires_in_s)}
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Secured:
    """A server with authentication on (the `secured` fixture), and a client without credentials."""

    url: str
    http: httpx.AsyncClient

    async def call(self, authorization: str | None, query: str, variables: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        headers = {"authorization": authorization} if authorization else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def as_admin(self) -> Api:
        return Api(httpx.AsyncClient(base_url=self.url, timeout=60,
                                     headers={"authorization": f"Bearer {token('root', ['admin'])}"}))


@dataclass(frozen=True)
class LiveServer:
    """A server running in this process: its URL, and its app to look inside."""

    url: str
    app: Starlette

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container


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
        await wait_until(lambda: server.started or task.done(), 60, "the server to start")
        assert not task.done(), "server failed to start"
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", app
    finally:
        server.should_exit = True
        await task
        if clean_up:
            async with AsyncElasticsearch(settings.elasticsearch_url) as client:
                await delete_indices(client, settings.index_prefix)


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a `storefront` process needs to work on the same stores as `settings`."""
    return {
        **os.environ,
        "STOREFRONT_DATABASE_URL": settings.database_url,
        "STOREFRONT_ELASTICSEARCH_URL": settings.elasticsearch_url,
        "STOREFRONT_INDEX_PREFIX": settings.index_prefix,
        "STOREFRONT_SYNC_BATCH_SIZE": str(settings.sync_batch_size),
        "STOREFRONT_INDEX_SHARDS": str(settings.index_shards),
        "STOREFRONT_INDEX_REPLICAS": str(settings.index_replicas),
        **extra,
    }


async def run_storefront(settings: Settings, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `storefront` without blocking the event loop (a live server may share it); killed if it
    outlives the timeout. Its output is a pipe, so it is not a terminal."""
    process = await asyncio.create_subprocess_exec(
        STOREFRONT, *args, env=environment(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return subprocess.CompletedProcess([STOREFRONT, *args], process.returncode, stdout.decode(), stderr.decode())


Process = asyncio.subprocess.Process


async def spawn_storefront(settings: Settings, log: Path, *args: str, **extra: str) -> Process:
    """A `storefront` process on the stores of `settings` (and the `extra` variables), its output
    appended to `log`: a pipe nobody reads would block it."""
    with log.open("a") as sink:
        return await asyncio.create_subprocess_exec(STOREFRONT, *args, env=environment(settings, **extra),
                                                    stdout=sink, stderr=sink)


async def until_answers(url: str, process: Process, log: Path, path: str = "/healthz", timeout_s: float = 60) -> None:
    """Until `url` + `path` answers 200; fails at once, showing the log, if the process exits first."""
    async with httpx.AsyncClient(timeout=2) as client:
        async def answers() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"the process exited with {process.returncode}; see {log}")
            try:
                return (await client.get(f"{url}{path}")).status_code == 200
            except httpx.TransportError:  # not listening yet
                return False

        await wait_until(answers, timeout_s, lambda: f"{url}{path} to answer 200:\n{log.read_text()}")


@asynccontextmanager
async def serving(settings: Settings, log: Path, *args: str, **extra: str) -> AsyncIterator[tuple[Process, str]]:
    """`storefront serve` on a free loopback port (with `args`, e.g. --no-sync), once /healthz
    answers: the process and its URL. Killed at the end if it still runs."""
    port = unused_port()
    process = await spawn_storefront(settings, log, "serve", "--port", str(port), *args, **extra)
    url = f"http://127.0.0.1:{port}"
    try:
        await until_answers(url, process, log)
        yield process, url
    finally:
        await kill(process)


async def kill(process: Process) -> None:
    """SIGKILL, unless it has exited already; returns once it is gone."""
    if process.returncode is None:
        process.kill()
    await process.wait()


async def drain(container: Container) -> int:
    """Run the worker batch by batch until it has indexed everything committed so far."""
    await ensure_indices(container.elasticsearch, container.settings.index_prefix)
    checkpoint = await container.tracking.position()
    head = await container.outbox.head()
    while checkpoint < head:
        checkpoint = await container.worker.run_once(checkpoint)
    return checkpoint


async def indexed(container: Container, index: IndexDefinition) -> dict[str, dict[str, Any]]:
    """Every document of an index with its Elasticsearch `_version`, by id."""
    response = await container.elasticsearch.search(
        index=index.alias(container.settings.index_prefix), size=10_000, version=True, query={"match_all": {}},
    )
    return {hit["_id"]: {"_version": hit["_version"], **hit["_source"]} for hit in response["hits"]["hits"]}


async def indexed_products(container: Container) -> dict[str, dict[str, Any]]:
    return await indexed(container, PRODUCTS)


async def _rows(container: Container, table: type[T]) -> list[T]:
    async with AsyncSession(container.database.reader) as session:
        return list(await session.exec(select(table)))


async def stored_products(container: Container) -> dict[str, ProductRow]:
    return {row.id: row for row in await _rows(container, ProductRow)}


async def expected_documents(container: Container) -> dict[str, dict[str, dict[str, Any]]]:
    """What every index should hold according to the write model's current state, by index name and id."""
    currency = container.settings.currency
    expected: dict[str, dict[str, dict[str, Any]]] = {PRODUCTS.name: {}, CUSTOMERS.name: {}, ORDERS.name: {}}
    async with open_snapshot(container.database) as snapshot:
        for kind in KINDS:
            async for states in snapshot.states(kind, 1000):
                for document in [document for state in states for document in project(state, currency)]:
                    expected[document.index.name][document.id] = document.document
    return expected


async def assert_read_model_matches_write_model(container: Container) -> None:
    """Field for field, every document is what the write model says; products and orders
    also carry their aggregate's version as the Elasticsearch version."""
    expected = await expected_documents(container)
    for index in (PRODUCTS, CUSTOMERS, ORDERS):
        documents = await indexed(container, index)
        assert documents.keys() == expected[index.name].keys(), index.name
        for document_id, document in documents.items():
            document = dict(document)
            elasticsearch_version = document.pop("_version")
            assert document == expected[index.name][document_id], (index.name, document_id)
            if index is not CUSTOMERS:
                assert elasticsearch_version == document["version"]


async def in_unit_of_work(database: Database, work: Callable[[UnitOfWork], T]) -> T:
    """Run `work` in a unit of work of its own through the database's command writer."""

    def job(units: UnitsOfWork) -> T:
        with units() as uow:
            return work(uow)

    return await database.commands.run(job)


HOLD_TIMEOUT_S = 10


def group_commit_writer(database: Database) -> GroupCommitWriter:
    assert isinstance(database.commands, GroupCommitWriter)
    return database.commands


@asynccontextmanager
async def writer_held(database: Database) -> AsyncIterator[None]:
    """The command writer busy with a transaction of its own until the block ends."""
    released, running = threading.Event(), threading.Event()

    def hold(_units: UnitsOfWork) -> None:
        running.set()
        released.wait(HOLD_TIMEOUT_S)

    held = asyncio.ensure_future(database.commands.run(hold))
    await wait_until(running.is_set, HOLD_TIMEOUT_S, "the writer to run the holding job")
    try:
        yield
    finally:
        released.set()
        await held


async def one_group(database: Database, *dispatches: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run the dispatches in one group commit (queued behind a held writer, so whatever the
    timing); returns each one's result or exception."""
    writer = group_commit_writer(database)
    async with writer_held(database):
        tasks = [asyncio.ensure_future(dispatch) for dispatch in dispatches]
        await wait_until(lambda: writer.queued == len(tasks), HOLD_TIMEOUT_S,
                         lambda: f"{len(tasks)} commands queued; {writer.queued} are")
        groups = writer.committed_groups
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert writer.committed_groups == groups + 2  # the holding job's group, then exactly one more
    return results
