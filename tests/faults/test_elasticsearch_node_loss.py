"""The server on a three-node Elasticsearch cluster (its own, on free ports: the shared dev node is
never touched), named by a comma-separated URL, indices with 3 shards and 1 replica each: reindex
and replay keep that layout; one node killed with SIGKILL, the first one named, and queries and
mutations keep answering while /readyz stays ready, saying the read model is yellow; a primary
lost as well (red) takes the process out of service."""

from __future__ import annotations

import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.elasticsearch import node as dev_elasticsearch
from devtools.project import Project
from read_model.indices import ALL_INDICES
from server.settings import Settings
from tests.e2e.operations import SEARCH_PRODUCTS, create_product
from tests.support import PROJECT_ROOT, Api, run_storefront, running_server, unused_ports, wait_until

NODES = 3
SHARDS = 3  # with a replica each, every node holds two copies: any node lost leaves some replica missing
PRODUCTS = 6
SEARCHES_AFTER_KILL = 20


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[dev_elasticsearch.RunningNode]]:
    project, workdir = Project.find(PROJECT_ROOT), tmp_path / "elasticsearch"
    port = unused_ports(NODES, also_at=dev_elasticsearch.TRANSPORT_OFFSET)
    try:
        yield dev_elasticsearch.start(project, port, nodes=NODES, workdir=workdir)
    finally:
        dev_elasticsearch.stop(project, workdir=workdir)


async def _layouts(http: httpx.AsyncClient, settings: Settings) -> dict[str, tuple[str, str]]:
    """(shards, replicas) of every index behind the deployment's aliases, by alias."""
    layouts = {}
    for definition in ALL_INDICES:
        alias = definition.alias(settings.index_prefix)
        found = (await http.get(f"/{alias}/_settings/index.number_of_*")).json()
        [(_index, index_settings)] = found.items()
        layouts[alias] = (index_settings["settings"]["index"]["number_of_shards"],
                          index_settings["settings"]["index"]["number_of_replicas"])
    return layouts


def _master(cluster: list[dev_elasticsearch.RunningNode]) -> dev_elasticsearch.RunningNode:
    with urllib.request.urlopen(f"{cluster[0].url}/_cat/master?h=node", timeout=10) as response:
        name = response.read().decode().strip()
    return next(node for node in cluster if node.name == name)


async def _search(api: Api, sku_prefix: str) -> int:
    found = await api(SEARCH_PRODUCTS, {"search": sku_prefix, "first": 50})
    total: int = found["products"]["totalCount"]
    return total


@pytest.mark.sqlite_only  # the write model's backend plays no part in losing a node of the read model
async def test_a_node_lost_leaves_reads_answering_and_readiness_yellow(
    cluster: list[dev_elasticsearch.RunningNode], settings: Settings
) -> None:
    killed = _master(cluster)  # the hardest node to lose, named first so that the client tries it first
    named = [killed, *(node for node in cluster if node is not killed)]
    settings = settings.model_copy(update={"elasticsearch_url": ", ".join(node.url for node in named),
                                           "index_shards": SHARDS, "index_replicas": 1})
    async with (running_server(settings, clean_up=False) as (url, _app),
                httpx.AsyncClient(base_url=url, timeout=30) as client,
                httpx.AsyncClient(base_url=named[1].url, timeout=30) as elasticsearch):
        api = Api(client)
        for n in range(PRODUCTS):
            position = (await create_product(api, f"LOSS-{n}"))["position"]
        await api(SEARCH_PRODUCTS, {"first": 0, "consistentWith": position})
        for command in (("reindex", "--index", "products"), ("replay", "--index", "events")):
            rebuilt = await run_storefront(settings, *command)
            assert rebuilt.returncode == 0, rebuilt.stderr
        assert set((await _layouts(elasticsearch, settings)).values()) == {(str(SHARDS), "1")}
        assert (await client.get("/readyz")).json() == {"status": "ready"}

        assert killed.pid is not None
        os.kill(killed.pid, signal.SIGKILL)

        totals = [await _search(api, "Item") for _ in range(SEARCHES_AFTER_KILL)]
        assert totals == [PRODUCTS] * SEARCHES_AFTER_KILL
        written = await create_product(api, "LOSS-AFTER")
        assert written["__typename"] == "ProductAccepted"
        read_back = await api(SEARCH_PRODUCTS, {"search": "LOSS-AFTER", "consistentWith": written["position"]})
        assert [edge["node"]["sku"] for edge in read_back["products"]["edges"]] == ["LOSS-AFTER"]

        async def yellow() -> dict[str, Any] | None:
            ready = await client.get("/readyz")
            body: dict[str, Any] = ready.json()
            return body if ready.status_code == 200 and body.get("warnings") else None

        ready = await wait_until(yellow, 30, "/readyz to report the lost replicas")
        [warning] = ready["warnings"]
        assert ready["status"] == "ready" and warning.startswith("elasticsearch: the read model's indices are yellow")
        assert f"{NODES - 1} nodes" in warning

        # Red, a primary nowhere to be placed (as of an index whose every copy was lost), is not ready.
        unplaceable = {"settings": {"number_of_replicas": 0, "index.routing.allocation.require._name": "nowhere"}}
        created = await elasticsearch.put(f"/{settings.index_prefix}-events-lost?wait_for_active_shards=0",
                                          json=unplaceable)
        assert created.status_code == 200, created.text
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["reasons"] == [
            "elasticsearch: the read model's indices are red (1 primary shards unassigned)"]
