"""Many processes on one PostgreSQL database and one Elasticsearch (issue 14): three `storefront
serve --no-sync` API processes and two `storefront sync` workers. 2,000 concurrent mutations go
to the API processes in turn while the worker holding the lease is SIGKILLed twice (and replaced,
so two remain). Afterwards the read model equals the write model field for field, a subscriber
on each API process saw every change exactly once and in position order, and `consistentWith`
holds on each process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.test_subscriptions import RawSocket
from tests.faults.workers import caught_up, lease_holder, start_worker, wait_for_progress
from tests.faults.workload import OverHttp, Workload, mutation_client
from tests.faults.write_model_audit import assert_answered_are_durable, assert_nothing_half_applied, read_write_model
from tests.support import (
    Api,
    Process,
    assert_read_model_matches_write_model,
    kill,
    spawn_storefront,
    until_answers,
    unused_port,
    wait_until,
)
from write_model import events

API_PROCESSES = 3
WORKERS = 2
MUTATIONS = 2_000
SENDERS = 16
# Accepted mutations before each kill of the active worker: both while the load runs.
KILL_AFTER_ACCEPTED = (300, 800)
TAKE_OVER_S = 30
LOAD_TIMEOUT_S = 120
NOTIFIED_S = 60

# Both from position 0, so a subscription that starts after the first commits still sees everything.
CHANGES = {
    events.PRODUCT: ("productChanged", "productId",
                     "subscription { productChanged(after: \"0\") { productId position } }"),
    events.ORDER: ("orderChanged", "orderId", "subscription { orderChanged(after: \"0\") { orderId position } }"),
}
PRODUCT_COUNT = "query($position: String) { products(first: 0, consistentWith: $position) { totalCount } }"


class Subscriber:
    """One connection to an API process with a subscription to every product's and every order's
    changes; keeps each stream's (id, position) notifications in the order they arrived."""

    def __init__(self, socket: RawSocket) -> None:
        self._socket = socket
        self.received: dict[str, list[tuple[str, int]]] = {stream: [] for stream in CHANGES}
        self.problems: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> Subscriber:
        socket = await RawSocket.open(url.replace("http://", "ws://") + "/graphql")
        for stream, (_, _, document) in CHANGES.items():
            await socket.subscribe(stream, document)
        return cls(socket)

    async def _read(self) -> None:
        while True:
            message = await self._socket.receive(timeout_s=LOAD_TIMEOUT_S)
            if message.get("type") != "next" or "errors" in message["payload"]:
                self.problems.append(message)
                continue
            field, id_field, _ = CHANGES[message["id"]]
            change = message["payload"]["data"][field]
            self.received[message["id"]].append((change[id_field], int(change["position"])))

    def has(self, expected: dict[str, list[tuple[str, int]]]) -> bool:
        return all(len(self.received[stream]) >= len(changes) for stream, changes in expected.items())

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._socket.close()


@asynccontextmanager
async def _api_processes(settings: Settings, folder: Path) -> AsyncIterator[list[str]]:
    """The API processes, started together and answering; killed at the end."""
    urls, processes = [], []
    try:
        for number in range(API_PROCESSES):
            port = unused_port()
            processes.append(await spawn_storefront(settings, folder / f"api-{number}.log", "serve", "--no-sync",
                                                    "--port", str(port)))
            urls.append(f"http://127.0.0.1:{port}")
        await asyncio.gather(*(until_answers(url, process, folder / f"api-{number}.log")
                               for number, (url, process) in enumerate(zip(urls, processes, strict=True))))
        yield urls
    finally:
        for process in processes:
            await kill(process)


async def _kill_the_active_worker(container: Container, workers: list[Process], settings: Settings,
                                  log: Path) -> None:
    """SIGKILL the lease holder, wait for a survivor to take the lease and move the checkpoint on,
    then start a replacement."""
    active = await wait_until(lambda: lease_holder(container, workers), TAKE_OVER_S, "a worker holding the lease")
    await kill(active)
    workers.remove(active)
    checkpoint = await container.tracking.position()
    await wait_until(lambda: lease_holder(container, workers), TAKE_OVER_S, "a survivor to take the lease over")
    await wait_for_progress(container, checkpoint, TAKE_OVER_S)
    workers.append(await start_worker(settings, log))


async def _until_accepted(workload: Workload, load: asyncio.Task[None], count: int) -> None:
    await wait_until(lambda: workload.accepted >= count or load.done(), LOAD_TIMEOUT_S,
                     lambda: f"{count} accepted mutations; {workload.accepted} so far")


def _expected_changes(stored: list[events.StoredEvent]) -> dict[str, list[tuple[str, int]]]:
    return {stream: [(event.stream_id, event.position) for event in stored if event.stream_type == stream]
            for stream in CHANGES}


@pytest.mark.postgres_only
@pytest.mark.timeout(180)
async def test_three_api_processes_and_two_workers_lose_nothing_when_the_active_worker_is_killed_twice(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    workers = [await start_worker(settings, tmp_path / "workers.log") for _ in range(WORKERS)]
    subscribers: list[Subscriber] = []
    try:
        async with _api_processes(settings, tmp_path) as urls:
            clients = [mutation_client(url) for url in urls]
            try:
                subscribers += [await Subscriber.open(url) for url in urls]
                over_http = OverHttp(clients)
                workload = Workload(over_http, seed=14)
                load = asyncio.create_task(workload.run(MUTATIONS, senders=SENDERS))
                try:
                    for accepted in KILL_AFTER_ACCEPTED:
                        await _until_accepted(workload, load, accepted)
                        assert not load.done(), "the kills must happen while the mutations keep coming"
                        await _kill_the_active_worker(container, workers, settings, tmp_path / "workers.log")
                    await asyncio.wait_for(load, LOAD_TIMEOUT_S)
                finally:
                    load.cancel()
                    await asyncio.gather(load, return_exceptions=True)
                assert len(workers) == WORKERS
                assert not over_http.errors, over_http.errors
                assert workload.accepted > MUTATIONS * 0.7, workload.accepted  # the rest: business refusals

                # Read-your-writes on every process, whichever took the writes.
                head = await container.outbox.head()
                for client in clients:
                    counted = await Api(client)(PRODUCT_COUNT, {"position": str(head)})
                    assert counted["products"]["totalCount"] == len(workload.products)
                await caught_up(container)
                expected = _expected_changes(await container.outbox.read_after(0, head))
                await wait_until(lambda: all(subscriber.has(expected) for subscriber in subscribers), NOTIFIED_S,
                                 lambda: f"every subscriber notified of {head} changes; they have "
                                         f"{[{s: len(r) for s, r in sub.received.items()} for sub in subscribers]}")
            finally:
                for client in clients:
                    await client.aclose()
    finally:
        for subscriber in subscribers:
            await subscriber.close()
        for worker in workers:
            await kill(worker)

    for subscriber in subscribers:
        assert not subscriber.problems, subscriber.problems
        assert subscriber.received == expected  # each change once, in position order
    await assert_read_model_matches_write_model(container)
    model = await read_write_model(settings.database_url)
    assert_answered_are_durable(model, over_http.answered)
    assert_nothing_half_applied(model)
