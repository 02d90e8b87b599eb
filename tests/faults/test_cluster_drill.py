"""The drill (issue 15): the whole topology from `storefront cluster up --api 3 --workers 2 --es-nodes 3
--database postgres`, indices with one replica, under a bounded mixed load through HAProxy
(mutations from 8 senders, searches from 4, a subscriber on each API process). Meanwhile one
Elasticsearch node, then one API process, then the active worker are SIGKILLed, each started again
after 10 s. Afterwards: every mutation answered as accepted is in the write model, and the read
model equals the write model field for field (the Verifier finds no drift in any index); nothing
is half-applied; searches failed only where in flight on the killed API process; the subscriber
that lost its process resumed with `after` on another, and every subscriber saw every change once
and in order; the cluster is green again."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
import websockets

from devtools.cluster import haproxy, topology
from devtools.project import Project
from read_model.indices import BY_NAME
from server.bootstrap import Container, build
from server.settings import Settings
from tests.e2e.test_subscriptions import RawSocket
from tests.faults.workload import OverHttp, Workload
from tests.faults.write_model_audit import assert_answered_are_durable, assert_nothing_half_applied, read_write_model
from tests.support import PROJECT_ROOT, STOREFRONT, unused_ports, wait_until
from write_model import events

API_PROCESSES, WORKERS, ES_NODES = 3, 2, 3
MUTATION_SENDERS, SEARCHERS = 8, 4
REPLICAS = 1
OUTAGE_S = 10  # how long each killed process stays down, as the issue prescribes
KILLED_NODE, KILLED_API = "dev-2", "api-2"
HAPROXY_CHECK_INTERVAL_S = 1.0  # `inter` in devtools/src/devtools/cluster/haproxy.cfg
# The load stops once the drill is done: these only bound it.
MUTATIONS_AT_MOST = 20_000
PAUSE_S = 0.05  # between one sender's requests: a load that 2 cores carry beside three JVMs
ACCEPTED_BEFORE_EACH_KILL = 100
COMMAND_TIMEOUT_S = 300
PHASE_TIMEOUT_S = 120
NOTIFIED_S = 120
RECEIVE_TIMEOUT_S = 60
RECONNECTS_AT_MOST = 10

SEARCH = "query($search: String) { products(search: $search, first: 10) { totalCount edges { node { id } } } }"
TERMS = ["widget", "widget v", "customer", "w"]
PRODUCT_CHANGES = "subscription($after: String) { productChanged(after: $after) { productId position } }"


async def _cluster(*args: str, env: dict[str, str] | None = None) -> str:
    """`storefront cluster ...` in the project, as a developer runs it; its stdout."""
    process = await asyncio.create_subprocess_exec(
        STOREFRONT, "cluster", *args, cwd=PROJECT_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"storefront cluster {' '.join(args)}: {stderr.decode()}"
    return stdout.decode()


@dataclass
class Searches:
    """What the searchers saw: answers, and each failure with when it was sent and when it failed."""

    answered: int = 0
    failed: list[tuple[float, float, str]] = field(default_factory=list)

    async def run(self, client: httpx.AsyncClient, number: int) -> None:
        loop, rng = asyncio.get_running_loop(), random.Random(number)
        while True:
            sent = loop.time()
            try:
                response = await client.post("/graphql", json={"query": SEARCH,
                                                               "variables": {"search": rng.choice(TERMS)}})
                problem = None if response.status_code == 200 and "errors" not in response.json() else response.text
            except httpx.TransportError as error:
                problem = repr(error)
            if problem is None:
                self.answered += 1
            else:
                self.failed.append((sent, loop.time(), problem[:300]))
            await asyncio.sleep(PAUSE_S)  # the searchers' pace


class ResumingSubscriber:
    """Subscribed to every product's changes on one API process, directly; when that subscription
    ends (its process died, or the feed ended it), subscribes on the next process with `after` set
    to the last position it saw."""

    def __init__(self, urls: list[str], first: int) -> None:
        self._urls = [url.replace("http://", "ws://") + "/graphql" for url in urls]
        self._next = first
        self.positions: list[int] = []
        self.connected_to: list[int] = []  # the index of each process it subscribed on, in turn
        self.ended: list[str] = []  # why each subscription ended
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while len(self.connected_to) < RECONNECTS_AT_MOST:
            process, self._next = self._next, (self._next + 1) % len(self._urls)
            try:
                subscription = await RawSocket.open(self._urls[process])
            except (OSError, websockets.exceptions.WebSocketException) as error:
                self.ended.append(f"process {process}: could not connect: {error!r}")
                continue
            self.connected_to.append(process)
            try:
                after = str(self.positions[-1]) if self.positions else "0"
                await subscription.subscribe("1", PRODUCT_CHANGES, {"after": after})
                while True:
                    message = await subscription.receive(RECEIVE_TIMEOUT_S)
                    if message["type"] != "next" or "errors" in message["payload"]:
                        self.ended.append(f"process {process}: {message}")
                        break
                    self.positions.append(int(message["payload"]["data"]["productChanged"]["position"]))
            except (websockets.exceptions.ConnectionClosed, TimeoutError) as error:
                self.ended.append(f"process {process}: {error!r}")
            finally:
                await subscription.close()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _kill_and_restart(project: Project, name: str) -> tuple[float, float]:
    """SIGKILL `name`, leave it down for the outage, start it again and wait until it is back in
    service; returns when the kill was sent and when the process was gone (the event loop's clock)."""
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await asyncio.to_thread(topology.kill, project, name)
    gone = loop.time()
    await asyncio.sleep(OUTAGE_S)  # the prescribed outage itself, not a wait for a condition
    await asyncio.to_thread(topology.restart, project, name)
    return sent, gone


async def _active_worker(container: Container, project: Project) -> str:
    """The worker holding the lease: its owner name carries its pid."""
    async def holder() -> str | None:
        held = await container.tracking.lease("drill-observer", timedelta(seconds=1)).holder()
        pids = {member.pid: member.name for member in topology.status(project) if member.role == "worker"}
        return None if held is None else pids.get(int(held[0].split(":")[1]))

    return await wait_until(holder, PHASE_TIMEOUT_S, "a worker of the cluster holding the lease")


@asynccontextmanager
async def _cluster_up(project: Project) -> AsyncIterator[Container]:
    """`storefront cluster up` for the drill, from no data at all; a container on its stores, to look inside."""
    if topology.status(project):
        pytest.fail("a cluster is up in this project already: `storefront cluster down` first", pytrace=False)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("STOREFRONT_")}
    environment["STOREFRONT_INDEX_REPLICAS"] = str(REPLICAS)
    await asyncio.to_thread(topology.down, project, purge=True)  # what an interrupted drill left behind
    try:
        await _cluster("up", "--api", str(API_PROCESSES), "--workers", str(WORKERS), "--es-nodes", str(ES_NODES),
                       "--database", "postgres", "--port", str(unused_ports(API_PROCESSES + WORKERS + 1)),
                       env=environment)
        members = topology.status(project)
        [database_url] = [member.url for member in members if member.role == "postgres"]
        nodes = [member.url or "" for member in members if member.role == "elasticsearch"]
        container = build(Settings(database_url=database_url, elasticsearch_url=",".join(nodes)), local_worker=False)
        try:
            yield container
        finally:
            await container.close()
    finally:
        await asyncio.to_thread(topology.down, project, purge=True)


@dataclass
class Load:
    """The drill's load through HAProxy: mutations, searches, and a subscriber on each API process."""

    mutations: OverHttp
    workload: Workload
    searches: Searches
    subscribers: list[ResumingSubscriber]
    tasks: list[asyncio.Task[None]]

    async def accepted_beyond(self, count: int) -> None:
        await wait_until(lambda: self.workload.accepted >= count or any(task.done() for task in self.tasks),
                         PHASE_TIMEOUT_S, lambda: f"{count} accepted mutations; {self.workload.accepted} so far")
        assert not any(task.done() for task in self.tasks), [task.exception() for task in self.tasks if task.done()]


@asynccontextmanager
async def _load(front: str, api_urls: list[str]) -> AsyncIterator[Load]:
    clients = [httpx.AsyncClient(base_url=front, timeout=60) for _ in range(MUTATION_SENDERS + SEARCHERS)]
    mutations = OverHttp(clients[:MUTATION_SENDERS], answers_may_be_lost=True)
    workload, searches = Workload(mutations, seed=15), Searches()
    stop = asyncio.Event()
    mutating = asyncio.create_task(workload.run(MUTATIONS_AT_MOST, PAUSE_S, senders=MUTATION_SENDERS, until=stop))
    tasks = [mutating, *(asyncio.create_task(searches.run(client, number))
                         for number, client in enumerate(clients[MUTATION_SENDERS:]))]
    load = Load(mutations, workload, searches, [ResumingSubscriber(api_urls, n) for n in range(len(api_urls))], tasks)
    try:
        yield load
        stop.set()  # the senders finish their mutations in flight: nothing commits after this
        await asyncio.wait_for(mutating, PHASE_TIMEOUT_S)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.aclose()


async def _indexed_at_least(container: Container, position: int) -> bool:
    return await container.tracking.position() >= position


def _front_log(project: Project) -> str:
    return "\n".join(topology.log_file(project, "haproxy").read_text().splitlines()[-30:])


def _all_in_rotation(project: Project) -> bool:
    states = haproxy.server_states(topology.workdir(project))
    return states is not None and len(states) == API_PROCESSES and set(states.values()) == {"UP"}


@pytest.mark.postgres_only
@pytest.mark.timeout(600)
async def test_the_cluster_survives_losing_a_node_an_api_process_and_the_active_worker_under_load(
    postgres_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project.find(PROJECT_ROOT)
    clock = asyncio.get_running_loop().time
    began = clock()
    async with _cluster_up(project) as container:
        up_s, load_began = clock() - began, clock()
        members = topology.status(project)
        [front] = [member.url or "" for member in members if member.role == "haproxy"]
        api = [member for member in members if member.role == "api"]
        killed_at = {}
        async with _load(front, [member.url or "" for member in api]) as load:
            for victim in (KILLED_NODE, KILLED_API, None):  # None: the worker holding the lease, once it is time
                await load.accepted_beyond(load.workload.accepted + ACCEPTED_BEFORE_EACH_KILL)
                name = victim or await _active_worker(container, project)
                killed_at[name] = await _kill_and_restart(project, name)
            await load.accepted_beyond(load.workload.accepted + ACCEPTED_BEFORE_EACH_KILL)
        load_s = clock() - load_began
        head = await container.outbox.head()
        await wait_until(lambda: _indexed_at_least(container, head), PHASE_TIMEOUT_S, f"indexing up to {head}")
        expected = [event.position for event in await container.outbox.read_after(0, head)
                    if event.stream_type == events.PRODUCT]
        try:
            await wait_until(lambda: all(len(s.positions) >= len(expected) for s in load.subscribers), NOTIFIED_S,
                             lambda: f"{len(expected)} changes for every subscriber; they have "
                                     f"{[len(s.positions) for s in load.subscribers]}")
        finally:
            for subscriber in load.subscribers:
                await subscriber.close()

        # Green again: every node back, every process running, every API process in rotation.
        health = await container.elasticsearch.cluster.health(wait_for_status="green", timeout="60s")
        assert (health["status"], health["number_of_nodes"]) == ("green", ES_NODES)
        assert all(member.pid is not None for member in topology.status(project)), topology.status(project)
        await wait_until(lambda: _all_in_rotation(project), PHASE_TIMEOUT_S, "every API process in rotation")
        for definition in BY_NAME.values():
            index = definition.alias(container.settings.index_prefix)
            layout = await container.elasticsearch.indices.get_settings(index=index, name="index.number_of_replicas")
            assert [found["settings"]["index"]["number_of_replicas"] for found in layout.values()] == [str(REPLICAS)]

        # Every accepted mutation durable, nothing half-applied, the read model the write model's.
        model = await read_write_model(container.settings.database_url)
        assert_answered_are_durable(model, load.mutations.answered)
        assert_nothing_half_applied(model)
        assert not load.mutations.errors, load.mutations.errors
        assert load.mutations.unanswered <= MUTATION_SENDERS  # at most those in flight when the API process died
        for definition in BY_NAME.values():
            drift = [finding.drift.describe() async for finding in container.verifier.verify(definition)]
            assert drift == [], (definition.name, drift[:5])

    # Searches failed only on their way to the killed API process: never for the node or the worker.
    # A request HAProxy wrote on a kept-alive connection to the process in the moment after it died,
    # before HAProxy saw the connection close, is closed without an answer (the keep-alive race,
    # which HTTP clients retry); within a check interval HAProxy takes the process out of rotation.
    searches = load.searches
    kill_sent, process_gone = killed_at[KILLED_API]
    in_flight = [(sent, failed) for sent, failed, _ in searches.failed
                 if sent < process_gone + HAPROXY_CHECK_INTERVAL_S and failed >= kill_sent]
    assert len(in_flight) == len(searches.failed), (killed_at, searches.failed, _front_log(project))
    assert len(searches.failed) <= SEARCHERS
    # Every subscriber saw every change once and in order; the one on the killed process resumed on the next.
    for subscriber in load.subscribers:
        assert subscriber.positions == expected, subscriber.ended
    killed = [member.name for member in api].index(KILLED_API)
    resumed = load.subscribers[killed]
    assert resumed.connected_to[:2] == [killed, (killed + 1) % len(api)], resumed.ended
    with capsys.disabled():
        print(f"\ncluster drill: {load.workload.accepted} mutations accepted, {load.mutations.unanswered} unanswered "
              f"(in flight on {KILLED_API}); {searches.answered} searches answered, {len(searches.failed)} failed in "
              f"flight on {KILLED_API}; {len(expected)} product changes seen by each of {len(load.subscribers)} "
              f"subscribers, resubscribed {[len(s.connected_to) - 1 for s in load.subscribers]} times; outbox head "
              f"{head}; killed {', '.join(killed_at)}, each for {OUTAGE_S} s. Up took {up_s:.0f} s, the load "
              f"{load_s:.0f} s, all {clock() - began:.0f} s")
