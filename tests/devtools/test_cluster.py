"""`storefront cluster` as a developer runs it, where it needs no cluster: in a scratch project of its
own (the whole cluster under load is the drill's, tests/faults/test_cluster_drill.py)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from devtools.cluster import haproxy
from tests.support import STOREFRONT


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.storefront-devtools]\ndata-dir = ".devtools"\n')
    return tmp_path


def _cluster(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, "cluster", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


def test_without_a_cluster_status_lists_nothing_and_down_has_nothing_to_stop(scratch: Path) -> None:
    listed = _cluster("status", "--json", cwd=scratch)
    assert (listed.returncode, json.loads(listed.stdout), listed.stderr) == (1, [], "")
    stopped = _cluster("down", cwd=scratch)
    assert (stopped.returncode, stopped.stdout) == (0, "not running\n")
    missing = _cluster("restart", "api-1", cwd=scratch)
    assert (missing.returncode, missing.stderr) == (1, "error: no cluster is up: storefront cluster up\n")


def test_up_refuses_an_unknown_database_in_one_line_and_starts_nothing(scratch: Path) -> None:
    result = _cluster("up", "--database", "mysql", cwd=scratch)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: unknown database 'mysql': choose sqlite or postgres\n"
    assert not (scratch / ".devtools" / "cluster").exists()


def test_up_refuses_a_port_taken_before_starting_anything(scratch: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cluster("up", "--port", str(port), cwd=scratch)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: port {port} is taken: pick another --port")
    assert result.stderr.count("\n") == 1
    assert _cluster("status", "--json", cwd=scratch).stdout == "[]\n"


def test_the_haproxy_template_balances_over_every_api_process_and_haproxy_accepts_it(tmp_path: Path) -> None:
    backends = [haproxy.Backend("api-1", 18001), haproxy.Backend("api-2", 18002)]
    argv = haproxy.write_configuration(tmp_path, 18000, backends)  # runs `haproxy -c` on it
    config = (tmp_path / "haproxy.cfg").read_text()
    assert argv == [str(haproxy.binary()), "-db", "-f", str(tmp_path / "haproxy.cfg")]
    assert "bind 127.0.0.1:18000" in config and "balance roundrobin" in config
    assert "server api-1 127.0.0.1:18001\n    server api-2 127.0.0.1:18002" in config
    assert "option httpchk GET /readyz" in config and "timeout tunnel 1h" in config
    assert "$" not in config  # every placeholder filled in
