"""`storefront elasticsearch start --nodes 3` as a developer runs it, in a scratch project of its own
on free ports (the shared dev node on 9200 is never touched): one green cluster of three nodes,
each with its own folders and ports; a node killed and started again joins the cluster it had."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import processes
from devtools.health import cluster_health
from tests.support import PROJECT_ROOT, STOREFRONT, unused_ports, wait_until

TRANSPORT_OFFSET = 100  # the CLI's transport ports: HTTP port + 100


def _elasticsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, "elasticsearch", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, check=False)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _arguments(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _setting(pid: int, key: str) -> str | None:
    prefix = f"-Ddevnode.setting.{key}="
    return next((argument.removeprefix(prefix) for argument in _arguments(pid) if argument.startswith(prefix)), None)


def _listed(project: Path, port: int) -> list[dict[str, Any]]:
    result = _elasticsearch("status", "--port", str(port), "--json", cwd=project)
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    assert result.returncode == (0 if listed else 1), result.stderr
    return listed


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project folder whose dev data is its own; whatever runs there is stopped after. Its jars are
    the project's, linked (fetching them is not what these tests are about); it compiles its launcher."""
    folder = tmp_path / "project"
    (folder / ".devtools" / "elasticsearch").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[tool.storefront-devtools]\ndata-dir = ".devtools"\n')
    jars = PROJECT_ROOT / ".devtools" / "elasticsearch" / "lib"
    if (jars / ".version").is_file():  # else (no dev node started yet) the start fetches them
        (folder / ".devtools" / "elasticsearch" / "lib").symlink_to(jars, target_is_directory=True)
    yield folder
    _elasticsearch("stop", cwd=folder)


async def test_three_nodes_form_one_green_cluster_and_a_killed_one_rejoins_it(project: Path) -> None:
    port = unused_ports(3, also_at=TRANSPORT_OFFSET)
    urls = [f"http://127.0.0.1:{port + n}" for n in range(3)]
    started = _elasticsearch("start", "--nodes", "3", "--port", str(port), cwd=project)
    assert (started.returncode, started.stdout, started.stderr) == (0, ",".join(urls) + "\n", "")

    health = cluster_health(urls[2])
    assert health is not None and (health.status, health.nodes) == ("green", 3)
    listed = _listed(project, port)
    assert [(node["name"], node["url"]) for node in listed] == [("dev", urls[0]), ("dev-1", urls[1]),
                                                               ("dev-2", urls[2])]
    pids = [node["pid"] for node in listed]
    work = project / ".devtools" / "elasticsearch"
    homes = [work / "home", work / "node-1" / "home", work / "node-2" / "home"]
    transports = [f"127.0.0.1:{port + TRANSPORT_OFFSET + n}" for n in range(3)]
    for n, pid in enumerate(pids):
        assert _arguments(pid)[-2:] == [str(homes[n]), str(port + n)]  # a home of its own, its HTTP port
        assert (homes[n] / "data" / "_state").is_dir() and (homes[n].parent / "logs" / "node.log").is_file()
        assert _setting(pid, "transport.port") == str(port + TRANSPORT_OFFSET + n)
        assert _setting(pid, "discovery.seed_hosts") == ",".join(transports)
        assert _setting(pid, "cluster.initial_master_nodes") == "dev,dev-1,dev-2"  # the cluster's first start
        assert {"-Xms512m", "-Xmx512m"} <= set(_arguments(pid))
    nodes = _get(f"{urls[0]}/_nodes/transport?filter_path=nodes.*.name,nodes.*.transport.publish_address")
    assert sorted((node["name"], node["transport"]["publish_address"]) for node in nodes["nodes"].values()) == [
        ("dev", transports[0]), ("dev-1", transports[1]), ("dev-2", transports[2])]
    cluster_uuid = _get(f"{urls[0]}/_cluster/state/metadata?filter_path=metadata.cluster_uuid")["metadata"]

    os.kill(pids[1], signal.SIGKILL)
    await wait_until(lambda: [node["name"] for node in _listed(project, port)] == ["dev", "dev-2"], 30,
                     "the killed node to leave the list")
    again = _elasticsearch("start", "--nodes", "3", "--port", str(port), cwd=project)
    assert (again.returncode, again.stdout) == (0, ",".join(urls) + "\n"), again.stderr
    restarted = _listed(project, port)
    assert [node["pid"] for node in restarted][::2] == pids[::2]  # the others were left running
    assert _setting(restarted[1]["pid"], "cluster.initial_master_nodes") is None  # it has data: it must not bootstrap
    assert _setting(restarted[1]["pid"], "discovery.seed_hosts") == ",".join(transports)
    assert _get(f"{urls[1]}/_cluster/state/metadata?filter_path=metadata.cluster_uuid")["metadata"] == cluster_uuid
    health = cluster_health(urls[1])
    assert health is not None and (health.status, health.nodes) == ("green", 3)

    stopped = _elasticsearch("stop", cwd=project)
    assert (stopped.returncode, stopped.stdout) == (0, "stopped\n")
    assert _listed(project, port) == []
    # alive(), not /proc/PID: a stopped node that nobody has reaped yet is a zombie, and it stays one for
    # as long as the process it was reparented to takes to reap it.
    assert not any(processes.alive(node["pid"]) for node in restarted)


def test_a_single_node_start_refuses_a_folder_that_holds_a_cluster(project: Path) -> None:
    node_1 = project / ".devtools" / "elasticsearch" / "node-1" / "home" / "data" / "_state"
    node_1.mkdir(parents=True)  # what a cluster's second node leaves behind
    result = _elasticsearch("start", "--port", str(unused_ports(1)), cwd=project)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("error: ") and "holds a cluster of several nodes" in result.stderr
    assert result.stderr.count("\n") == 1
