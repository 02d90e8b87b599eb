"""`storefront postgres start|status|stop` as a developer runs them, on a cluster of a scratch
project of its own (the project's dev cluster, which other tests use, is never touched)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import STOREFRONT, unused_port, wait_until


def _postgres(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREFRONT, "postgres", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has yet to reap it


def _command_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _uid_of(pid: int) -> int:
    [line] = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")]
    return int(line.split()[1])


async def test_start_serves_a_database_on_loopback_until_stop(scratch_project: Path) -> None:
    port = unused_port()
    started = _postgres("start", "--port", str(port), cwd=scratch_project)
    assert started.returncode == 0, started.stderr
    url = started.stdout.splitlines()[-1]
    assert url.startswith("postgresql+asyncpg://storefront:") and url.endswith(f"@127.0.0.1:{port}/storefront")

    status = _postgres("status", "--json", cwd=scratch_project)
    assert status.returncode == 0, status.stderr
    running = json.loads(status.stdout)
    assert running["url"] == url
    assert _command_name(running["pid"]) == "postgres"
    assert _uid_of(running["pid"]) != 0  # PostgreSQL refuses root: the tooling runs it as another user
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        answer = await connection.execute(text("SELECT current_database(), host(inet_server_addr())"))
        assert answer.one() == ("storefront", "127.0.0.1")
    await engine.dispose()

    again = _postgres("start", "--port", str(port), cwd=scratch_project)
    assert (again.returncode, again.stdout.splitlines()[-1]) == (0, url)
    assert json.loads(_postgres("status", "--json", cwd=scratch_project).stdout)["pid"] == running["pid"]
    elsewhere = _postgres("start", "--port", str(unused_port()), cwd=scratch_project)
    assert elsewhere.returncode == 1 and elsewhere.stderr.count("\n") == 1
    assert f"already runs on port {port}" in elsewhere.stderr

    stopped = _postgres("stop", cwd=scratch_project)
    assert (stopped.returncode, stopped.stdout) == (0, "stopped\n")
    # pg_ctl's stop returns once the server removed its pid file; the process may end a moment later.
    await wait_until(lambda: not _alive(running["pid"]), 10, f"the server (pid {running['pid']}) ended")
    after = _postgres("status", "--json", cwd=scratch_project)
    assert (after.returncode, json.loads(after.stdout)) == (1, None)


def test_status_of_a_cluster_never_started_says_not_running(scratch_project: Path) -> None:
    text = _postgres("status", cwd=scratch_project)
    assert (text.returncode, text.stdout, text.stderr) == (1, "not running\n", "")
    assert _postgres("stop", cwd=scratch_project).stdout == "not running\n"
