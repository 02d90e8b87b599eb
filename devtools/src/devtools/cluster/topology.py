"""The whole topology on one machine: the write model (the dev PostgreSQL or a SQLite file), an
Elasticsearch cluster, API processes (``storefront serve --no-sync``), sync workers (``storefront
sync``) and HAProxy in front of the API processes.

Everything lives under ``<project data dir>/cluster`` (``.devtools/``, git-ignored):
``cluster.json`` (what :func:`up` started, with pids and command lines), a log per process
(``api-1.log``, ``worker-1.log``, ``haproxy.log``, ``migrate.log``), ``haproxy.cfg``, the SQLite
file ``write.db`` and ``elasticsearch/``, the cluster's own nodes (HTTP from :data:`ES_PORT`,
beside the shared dev node on 9200). Every process runs detached and outlives the command that
started it until :func:`down`. The API processes listen on the ports after the front port, then the
workers serve their metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools import processes
from devtools.cluster import haproxy
from devtools.elasticsearch import node as dev_elasticsearch
from devtools.postgres import cluster as dev_postgres
from devtools.project import Project

DATABASES = ("sqlite", "postgres")
ROLES = ("postgres", "elasticsearch", "api", "worker", "haproxy")  # the order status lists them in
DEFAULT_PORT = 8080
# The cluster's nodes: HTTP 9220.., transport 9320..; the shared dev node (and its own
# `--nodes 3`) keep 9200-9202 and 9300-9302.
ES_PORT = 9220
POSTGRES_DATABASE = "storefront_cluster"  # on the dev PostgreSQL, beside the tests' databases
READY_TIMEOUT_S = 180.0
ES_TIMEOUT_S = 240.0  # three JVMs starting at once on two cores
ENVIRONMENT_PREFIX = "STOREFRONT_"

Progress = Callable[[str], None]


class ClusterError(Exception):
    """The cluster cannot be started, found or changed; the message says what to do."""


@dataclass(frozen=True)
class Plan:
    """What `up` was asked for."""

    api: int = 2
    workers: int = 2
    es_nodes: int = 1
    database: str = "sqlite"  # one of DATABASES
    port: int = DEFAULT_PORT

    def check(self) -> None:
        if self.api < 1 or self.workers < 1:
            raise ClusterError("a cluster needs at least one API process and one worker")
        if not 1 <= self.es_nodes <= dev_elasticsearch.MAX_NODES:
            raise ClusterError(f"--es-nodes must be in 1-{dev_elasticsearch.MAX_NODES}")
        if self.database not in DATABASES:
            raise ClusterError(f"unknown database {self.database!r}: choose {' or '.join(DATABASES)}")
        if self.port < 1024 or self.port + self.api + self.workers > 65535:
            raise ClusterError(f"--port {self.port} leaves no room for the {self.api + self.workers} API and worker "
                               f"metrics ports after it: pick one in 1024-{65535 - self.api - self.workers}")


@dataclass(frozen=True)
class Member:
    """One process of the cluster, as `status` lists it; ``pid`` is None when it does not run."""

    role: str
    name: str
    url: str | None
    pid: int | None


@dataclass
class _Process:
    """A process `up` spawned (an API process, a worker, HAProxy), as cluster.json records it."""

    role: str
    name: str
    url: str | None
    argv: list[str]
    pid: int | None = None


@dataclass
class _State:
    """cluster.json: what `up` started, so that `status`, `restart` and `down` find it again."""

    plan: Plan
    database_url: str | None = None
    started_postgres: bool = False
    elasticsearch: list[dict[str, str]] | None = None  # [{name, url}] of the nodes, in node order
    # The STOREFRONT_* variables the processes run with, so that a restarted one matches its peers.
    environment: dict[str, str] | None = None
    processes: list[_Process] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> _State:
        raw = json.loads(text)
        return cls(plan=Plan(**raw["plan"]), database_url=raw["database_url"], started_postgres=raw["started_postgres"],
                   elasticsearch=raw["elasticsearch"], environment=raw["environment"],
                   processes=[_Process(**process) for process in raw["processes"] or []])


# --- paths -------------------------------------------------------------------


def workdir(project: Project) -> Path:
    return project.data_dir / "cluster"


def _state_file(project: Project) -> Path:
    return workdir(project) / "cluster.json"


def _es_workdir(project: Project) -> Path:
    return workdir(project) / "elasticsearch"


def log_file(project: Project, name: str) -> Path:
    return workdir(project) / f"{name}.log"


def _storefront() -> str:
    """The `storefront` script of this environment; run through this interpreter, so that the
    process's command line is exactly the one recorded (a script's would start with its interpreter)."""
    script = Path(sys.executable).with_name("storefront")
    if not script.is_file():
        raise ClusterError(f"no `storefront` command beside {sys.executable}: install the project (scripts/setup)")
    return str(script)


# --- state ---------------------------------------------------------------------


def _load(project: Project) -> _State | None:
    try:
        return _State.from_json(_state_file(project).read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(f"{_state_file(project)} is unreadable ({error}): stop what runs by hand and delete it"
                           ) from None


def _save(project: Project, state: _State) -> None:
    path = _state_file(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(state.to_json())
    partial.chmod(0o600)  # the environment may hold a JWT secret
    partial.replace(path)


# --- public API ----------------------------------------------------------------


def status(project: Project) -> list[Member]:
    """Every process of the cluster in :data:`ROLES` order (an empty list when none is up)."""
    state = _load(project)
    if state is None:
        return []
    members = []
    if state.plan.database == "postgres":
        running = dev_postgres.status(project)
        members.append(Member("postgres", "postgres", state.database_url, running.pid if running else None))
    live = {node.name: node.pid for node in _es_status(project)}
    members += [Member("elasticsearch", node["name"], node["url"], live.get(node["name"]))
                for node in state.elasticsearch or []]
    spawned = sorted(state.processes or [], key=lambda process: ROLES.index(process.role))
    members += [Member(process.role, process.name, process.url,
                       process.pid if processes.running(process.pid, process.argv) else None) for process in spawned]
    return members


def front_url(plan: Plan) -> str:
    return f"http://127.0.0.1:{plan.port}"


def up(project: Project, plan: Plan, environ: Mapping[str, str] | None = None,
       progress: Progress | None = None) -> str:
    """Start the whole cluster and wait until HAProxy has every API process in rotation; return
    the front URL. Up again with the same plan while everything runs returns the same URL; any
    other cluster already there is an error. If a step fails, what was started is stopped again.
    ``progress`` is called with a line per step."""
    plan.check()
    environ = dict(os.environ if environ is None else environ)
    say: Progress = progress or (lambda _line: None)
    existing = _load(project)
    if existing is not None:
        members = status(project)
        if existing.plan == plan and all(member.pid is not None for member in members):
            return front_url(plan)
        if any(member.pid is not None for member in members if member.role != "postgres"):
            raise ClusterError(f"a cluster is already up in {project.root} ({_describe(existing.plan)}): "
                               "`storefront cluster down` first")
        _state_file(project).unlink()  # left by a cluster whose processes are all gone
    haproxy.binary()  # missing HAProxy is a one-line error before anything starts
    _check_ports_free([plan.port + n for n in range(plan.api + plan.workers + 1)])
    state = _State(plan=plan)
    _save(project, state)
    try:
        _start_all(project, state, environ, say)
    except BaseException:
        down(project)
        raise
    return front_url(plan)


def down(project: Project, *, purge: bool = False) -> list[str]:
    """Stop everything `up` started, front first; return the names stopped. The dev PostgreSQL
    keeps running unless `up` started it. ``purge`` also deletes the cluster's data, so that the
    next `up` starts empty: the SQLite file, the Elasticsearch nodes' folder and the PostgreSQL
    database (the logs stay)."""
    state = _load(project) or _State(plan=Plan())
    stopped = []
    spawned = state.processes or []
    # Front first (no new requests), then the API processes (they finish what is in flight), then the workers.
    for role in ("haproxy", "api", "worker"):
        for process in (process for process in spawned if process.role == role):
            if process.pid is not None and processes.stop(process.pid, process.argv):
                stopped.append(process.name)
    live = [node.name for node in _es_status(project)]
    if dev_elasticsearch.stop(project, workdir=_es_workdir(project)):
        stopped += live
    if purge:
        _purge(project)
    if state.started_postgres and dev_postgres.stop(project):
        stopped.append("postgres")
    _state_file(project).unlink(missing_ok=True)
    return stopped


def kill(project: Project, name: str) -> Member:
    """SIGKILL the process ``name``, as a crash would end it; return it as it was."""
    member = next((member for member in status(project) if member.name == name), None)
    if member is None:
        raise ClusterError(f"no process {name!r} in the cluster; `storefront cluster status` lists them")
    if member.pid is None:
        raise ClusterError(f"{name} does not run")
    if member.role == "postgres":
        raise ClusterError("the dev PostgreSQL may be shared: it is not killed from here")
    os.kill(member.pid, signal.SIGKILL)
    processes.wait_for_exit(member.pid, 10.0)
    return member


def restart(project: Project, name: str) -> Member:
    """Start the process ``name`` again as `up` did (stopping it first if it runs) and wait until
    it is back: an API process in HAProxy's rotation, an Elasticsearch node in a green cluster."""
    state = _load(project)
    if state is None:
        raise ClusterError("no cluster is up: storefront cluster up")
    member = next((member for member in status(project) if member.name == name), None)
    if member is None:
        raise ClusterError(f"no process {name!r} in the cluster; `storefront cluster status` lists them")
    if member.role == "postgres":
        raise ClusterError("the dev PostgreSQL may be shared: restart it with `storefront postgres stop` and "
                           "`storefront postgres start`")
    if member.role == "elasticsearch":
        if member.pid is not None:
            os.kill(member.pid, signal.SIGTERM)
            processes.wait_for_exit(member.pid, 60.0)
        _start_elasticsearch(project, state)
    else:
        process = next(process for process in state.processes or [] if process.name == name)
        if process.pid is not None:
            processes.stop(process.pid, process.argv)
        _spawn(project, process, {**_without_ours(os.environ), **(state.environment or {})})
        _save(project, state)
        _wait_until_started(project, state, [process])
    return next(member for member in status(project) if member.name == name)


def _purge(project: Project) -> None:
    for path in workdir(project).glob("write.db*"):
        path.unlink()
    shutil.rmtree(_es_workdir(project), ignore_errors=True)
    if dev_postgres.status(project) is not None:
        try:
            dev_postgres.drop_database(project, POSTGRES_DATABASE)
        except dev_postgres.DevPostgresError as error:
            raise ClusterError(str(error)) from None


# --- starting --------------------------------------------------------------------


def _start_all(project: Project, state: _State, environ: dict[str, str], say: Progress) -> None:
    plan = state.plan
    state.database_url = _write_model(project, state, say)
    _save(project, state)
    say(f"starting Elasticsearch ({_count(plan.es_nodes, 'node')} from port {ES_PORT})")
    elasticsearch_url = _start_elasticsearch(project, state)
    overrides = {"STOREFRONT_DATABASE_URL": state.database_url, "STOREFRONT_ELASTICSEARCH_URL": elasticsearch_url}
    if plan.es_nodes > 1:  # a copy of every shard on another node, so that losing one node loses nothing
        overrides["STOREFRONT_INDEX_REPLICAS"] = environ.get("STOREFRONT_INDEX_REPLICAS", "1")
    state.environment = {**{key: value for key, value in environ.items() if key.startswith(ENVIRONMENT_PREFIX)},
                         **overrides}
    _save(project, state)
    environment = {**environ, **state.environment}
    say("migrating the write model")
    _migrate(project, environment)
    api = [_Process("api", f"api-{n}", f"http://127.0.0.1:{plan.port + n}",
                    [sys.executable, _storefront(), "serve", "--no-sync", "--port", str(plan.port + n)])
           for n in range(1, plan.api + 1)]
    # A worker's URL serves its metrics (lag, lease held, drift), on the ports after the API processes'.
    workers = [_Process("worker", f"worker-{n}", f"http://127.0.0.1:{plan.port + plan.api + n}",
                        [sys.executable, _storefront(), "sync", "--metrics-port", str(plan.port + plan.api + n)])
               for n in range(1, plan.workers + 1)]
    front = _Process("haproxy", "haproxy", front_url(plan), haproxy.write_configuration(
        workdir(project), plan.port, [haproxy.Backend(process.name, plan.port + n)
                                      for n, process in enumerate(api, start=1)]))
    state.processes = [*api, *workers, front]
    say(f"starting {_count(plan.api, 'API process', 'es')}, {_count(plan.workers, 'worker')} and HAProxy on port "
        f"{plan.port}")
    for process in state.processes:
        log_file(project, process.name).unlink(missing_ok=True)  # each `up` starts its logs afresh
        _spawn(project, process, environment)
    _save(project, state)
    _wait_until_started(project, state, state.processes)


def _write_model(project: Project, state: _State, say: Progress) -> str:
    if state.plan.database == "sqlite":
        workdir(project).mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{workdir(project) / 'write.db'}"
    try:
        if dev_postgres.status(project) is None:
            say("starting the dev PostgreSQL")
            dev_postgres.start(project)
            state.started_postgres = True
        return dev_postgres.create_database(project, POSTGRES_DATABASE)
    except dev_postgres.DevPostgresError as error:
        raise ClusterError(str(error)) from None


def _start_elasticsearch(project: Project, state: _State) -> str:
    """Start the missing nodes of the cluster's Elasticsearch and wait for green; its node URLs."""
    try:
        nodes = dev_elasticsearch.start(project, ES_PORT, ES_TIMEOUT_S, nodes=state.plan.es_nodes,
                                        workdir=_es_workdir(project))
    except dev_elasticsearch.DevNodeError as error:
        raise ClusterError(f"Elasticsearch: {error}") from None
    state.elasticsearch = [{"name": node.name, "url": node.url} for node in nodes]
    return dev_elasticsearch.urls(nodes)


def _without_ours(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without STOREFRONT_* variables: a restarted process gets those `up` recorded."""
    return {key: value for key, value in environ.items() if not key.startswith(ENVIRONMENT_PREFIX)}


def _es_status(project: Project) -> list[dev_elasticsearch.RunningNode]:
    return dev_elasticsearch.status(project, ES_PORT, workdir=_es_workdir(project))


def _migrate(project: Project, environment: dict[str, str]) -> None:
    """`storefront migrate` once, before the processes start (each would otherwise race to)."""
    log = log_file(project, "migrate")
    with log.open("a") as sink:
        result = subprocess.run([sys.executable, _storefront(), "migrate"], env=environment, stdout=sink,
                                stderr=sink, stdin=subprocess.DEVNULL, check=False, timeout=READY_TIMEOUT_S)
    if result.returncode != 0:
        raise ClusterError(f"storefront migrate failed; see {log}\n{processes.log_tail(log)}")


def _spawn(project: Project, process: _Process, environment: dict[str, str]) -> None:
    process.pid = processes.spawn(process.argv, log_file(project, process.name), environment)


def _wait_until_started(project: Project, state: _State, started: Sequence[_Process]) -> None:
    """API processes ready and in HAProxy's rotation (all running ones, after HAProxy started),
    workers and HAProxy still alive."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = [process for process in started if process.role == "api"]
    while True:
        for process in started:
            # By pid alone: they are this process's children, whose pids are not reused before they
            # are reaped, and just after posix_spawn returns a child's command line may still read
            # empty (the kernel sets the new argv after it lets the parent go on), which made a child
            # starting up look gone.
            if process.pid is None or not processes.alive(process.pid):
                log = log_file(project, process.name)
                raise ClusterError(f"{process.name} exited during start-up; see {log}\n{processes.log_tail(log)}")
        waiting = [process for process in waiting if not _ready(process.url or "")]
        if not waiting:
            break
        if time.monotonic() > deadline:
            names = ", ".join(process.name for process in waiting)
            raise ClusterError(f"{names} not ready within {READY_TIMEOUT_S:g} s; see {workdir(project)}/*.log")
        time.sleep(0.2)
    front_started = any(process.role == "haproxy" for process in started)
    rotation = [process.name for process in state.processes or [] if process.role == "api"
                and (process in started or (front_started and processes.running(process.pid, process.argv)))]
    try:
        haproxy.wait_until_in_rotation(workdir(project), rotation, max(deadline - time.monotonic(), 10.0))
    except haproxy.HaproxyError as error:
        raise ClusterError(f"{error}; see {log_file(project, 'haproxy')}") from None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _check_ports_free(ports: Sequence[int]) -> None:
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise ClusterError(f"port {port} is taken: pick another --port (the API processes and the "
                                   f"workers' metrics use the {len(ports) - 1} ports after it)") from None


def _describe(plan: Plan) -> str:
    return (f"{_count(plan.api, 'API process', 'es')}, {_count(plan.workers, 'worker')}, "
            f"{_count(plan.es_nodes, 'Elasticsearch node')}, {plan.database}, front {front_url(plan)}")


def _count(number: int, thing: str, plural: str = "s") -> str:
    return f"{number} {thing}{plural if number != 1 else ''}"
