"""PostgreSQL stopped for 30 s under a `storefront serve` taking mutations (issue 14): mutations answer
SERVICE_UNAVAILABLE with a message that says what to do and the server logs no traceback, queries
keep answering from Elasticsearch, /readyz says why; once it is back everything recovers without a
restart, and nothing is half-written: the write model is whole and the read model equals it. On a
cluster of the test's own, so stopping it disturbs no other test."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devtools.postgres import cluster as dev_postgres
from devtools.project import Project
from read_model.indices import delete_indices
from server.bootstrap import build
from server.settings import Settings
from tests.faults.workers import caught_up
from tests.faults.workload import OverHttp, Workload, mutation_client
from tests.faults.write_model_audit import assert_answered_are_durable, assert_nothing_half_applied, read_write_model
from tests.support import Api, assert_read_model_matches_write_model, serving, unused_port, wait_until

OUTAGE_S = 30
SENDERS = 4
SEND_PAUSE_S = 0.05  # each sender's pace, so that refusals do not flood the log
READ_PAUSE_S = 0.2  # the reader's pace during the outage
MUTATIONS_AT_MOST = 20_000
ACCEPTED_BEFORE_OUTAGE = 30
RECOVERY_S = 60
UNAVAILABLE = ("SERVICE_UNAVAILABLE", "The write model does not answer; try again shortly.")
PRODUCT_COUNT = """query($position: String) { products(first: 0, consistentWith: $position) { totalCount } }"""


@pytest.fixture
async def own_cluster(scratch_project: Path) -> AsyncIterator[tuple[Project, int, str]]:
    project, port = Project.find(scratch_project), unused_port()
    url = await asyncio.to_thread(dev_postgres.start, project, port)
    yield project, port, url


async def _unready_for_the_database(http: httpx.AsyncClient) -> list[str]:
    ready = await http.get("/readyz")
    assert ready.status_code == 503, ready.text
    reasons: list[str] = [reason for reason in ready.json()["reasons"] if reason.startswith("database: ")]
    assert reasons, ready.json()
    return reasons


async def _read_through_the_outage(api: Api, position: str, indexed_products: int) -> int:
    """For the outage's length, queries (consistent with a position this process saw indexed, which
    needs no database) and readiness, taking turns; returns how many queries answered."""
    reads = 0
    started = time.monotonic()
    while time.monotonic() - started < OUTAGE_S:
        counted = await api(PRODUCT_COUNT, {"position": position})
        # A pass the worker had read before the stop may still land in the index.
        assert counted["products"]["totalCount"] >= indexed_products
        reads += 1
        await _unready_for_the_database(api.http)
        await asyncio.sleep(READ_PAUSE_S)  # the reader's pace, not a wait for a condition
    return reads


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


@pytest.mark.postgres_only
async def test_a_30s_outage_under_load_refuses_mutations_cleanly_while_queries_answer_and_all_recovers(
    settings: Settings, own_cluster: tuple[Project, int, str], tmp_path: Path
) -> None:
    project, port, url = own_cluster
    settings = settings.model_copy(update={"database_url": url})
    log = tmp_path / "serve.log"
    async with serving(settings, log, STOREFRONT_SYNC_POLL_INTERVAL_MS="50") as (_, server_url), \
            mutation_client(server_url) as http:
        api, over_http = Api(http), OverHttp([http])
        workload = Workload(over_http, seed=30)
        load = asyncio.create_task(workload.run(MUTATIONS_AT_MOST, pause_s=SEND_PAUSE_S, senders=SENDERS))
        try:
            await wait_until(lambda: workload.accepted >= ACCEPTED_BEFORE_OUTAGE or load.done(), RECOVERY_S,
                             lambda: f"{ACCEPTED_BEFORE_OUTAGE} accepted mutations; {workload.accepted} so far")
            position = str(max(answer.position for answer in over_http.answered))
            indexed_products = (await api(PRODUCT_COUNT, {"position": position}))["products"]["totalCount"]

            await asyncio.to_thread(dev_postgres.stop, project)
            refused_before = over_http.errors[UNAVAILABLE]
            reads = await _read_through_the_outage(api, position, indexed_products)
            refused = over_http.errors[UNAVAILABLE] - refused_before
            assert not load.done(), "the mutations must keep coming through the outage"
            accepted_during = workload.accepted

            await asyncio.to_thread(dev_postgres.start, project, port)
            await wait_until(lambda: workload.accepted > accepted_during, RECOVERY_S,
                             "a mutation accepted once PostgreSQL is back")
            await wait_until(lambda: _ready(http), RECOVERY_S, "/readyz to answer 200 again")
        finally:
            load.cancel()  # a command already sent still commits, or not at all
            with contextlib.suppress(asyncio.CancelledError):
                await load  # the load's own failure, if it had one
        assert reads >= OUTAGE_S  # about one every READ_PAUSE_S
        assert refused >= SENDERS * 10, f"only {refused} mutations were refused during the outage"
        assert set(over_http.errors) == {UNAVAILABLE}, over_http.errors

        container = build(settings, local_worker=False)
        try:
            await caught_up(container)
            await assert_read_model_matches_write_model(container)
        finally:
            await delete_indices(container.elasticsearch, settings.index_prefix)
            await container.close()
    model = await read_write_model(url)
    assert_answered_are_durable(model, over_http.answered)
    assert_nothing_half_applied(model)
    logged = log.read_text()
    assert "could not reach the write model" in logged  # the refusals were logged...
    assert "Traceback" not in logged  # ...in a line each
