"""The one "does Elasticsearch answer" probe of the dev tooling, for the CLI, tests and benchmarks."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterHealth:
    cluster_name: str
    status: str  # green, yellow or red
    nodes: int = 1  # number_of_nodes: how many have joined the cluster

    @property
    def ready(self) -> bool:
        """Every primary shard assigned (yellow is as good as it gets on one node)."""
        return self.status in ("green", "yellow")


def cluster_health(url: str, timeout: float = 2.0, local: bool = False) -> ClusterHealth | None:
    """``GET /_cluster/health`` of the cluster at ``url``, or None if no Elasticsearch answers there.
    ``local`` takes the node's own view of the cluster, which it has even while no master is elected.

    This endpoint rather than ``GET /``: that lives in the ``rest-root`` module, which the dev
    node does not have.
    """
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_cluster/health{'?local=true' if local else ''}",
                                    timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):  # URLError, HTTPError and timeouts are OSErrors
        return None
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return None
    nodes = body.get("number_of_nodes")
    return ClusterHealth(str(body.get("cluster_name", "")), body["status"], nodes if isinstance(nodes, int) else 1)


def answers(url: str) -> bool:
    """Whether Elasticsearch at ``url`` answers and has every primary shard assigned."""
    health = cluster_health(url)
    return health is not None and health.ready
