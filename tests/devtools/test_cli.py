"""`storefront elasticsearch status` as a developer runs it, against the running dev node (never stopped here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import STOREFRONT, unused_port

ROOT = Path(__file__).resolve().parents[2]


def _status(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, "elasticsearch", "status", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_status_names_the_running_node_and_its_process(es_url: str) -> None:
    port = es_url.rsplit(":", 1)[1]
    text = _status("--port", port)
    assert (text.returncode, text.stdout, text.stderr) == (0, f"running at {es_url}\n", "")
    listed = _status("--port", port, "--json", cwd=ROOT / "devtools")  # a subfolder is the same project
    assert listed.returncode == 0, listed.stderr
    [node] = json.loads(listed.stdout)
    assert (node["name"], node["url"]) == ("dev", es_url)
    cmdline = Path(f"/proc/{node['pid']}/cmdline").read_bytes().split(b"\0")
    assert b"org.elasticsearch.node.DevNode" in cmdline and cmdline[-2] == port.encode()


def test_json_status_of_a_node_that_is_not_there_is_an_empty_list() -> None:
    result = _status("--port", str(unused_port()), "--json")
    assert (result.returncode, json.loads(result.stdout), result.stderr) == (1, [], "")


def test_outside_the_project_status_is_a_one_line_error(tmp_path: Path) -> None:
    result = _status(cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: no pyproject.toml with a [tool.storefront-devtools] table")
    assert result.stderr.count("\n") == 1
