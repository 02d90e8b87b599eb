"""A real Elasticsearch for development and tests, without Docker: one node, or a cluster of several.

Every node is Elasticsearch's server core plus the netty4 transport (node-to-node and HTTP),
fetched from Maven Central by ``pom.xml`` beside this module and started by the small launcher
in ``java/``. It lacks the bundled modules (``analysis-common``, ``reindex``, ``painless``,
``mapper-extras``, ``rest-root``) and x-pack, so code must use only what a full cluster and this
node both have.

The jars and the compiled launcher live under ``<project data dir>/elasticsearch`` (``.devtools/``,
git-ignored): ``lib/``, ``classes/``, ``native/``. A cluster keeps its nodes in a work folder (by
default that same folder): node 0 in the folder itself, node ``i`` in ``node-<i>/``, each with
``home/`` (data), ``logs/node.log`` and ``node.pid``. Node ``i`` answers HTTP on ``port + i`` and
talks to the others on ``transport_port + i``. The nodes run detached, so they outlive the Python
process that started them until :func:`stop` is called. Linux only (``/proc``, ``posix_spawn``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools import processes
from devtools.health import ClusterHealth, cluster_health
from devtools.jdk import JdkNotFound, find_jdk
from devtools.project import Project

# Keep in step with pom.xml and the client pin in the product's pyproject.toml
# (client major == server major). 9.4.x is not on Maven Central; 9.5.3 is.
ES_VERSION = "9.5.3"
MIN_JAVA = 21  # ES 9.x is compiled for Java 21
CLUSTER_NAME = "storefront-dev"  # set by DevNode.java; tells our node from a stranger's
NODE_NAME = "dev"  # node 0's name, set by DevNode.java; node i is dev-<i>
LAUNCHER_CLASS = "org.elasticsearch.node.DevNode"
SETTING_PROPERTY = "-Ddevnode.setting."  # DevNode.java puts -Ddevnode.setting.<key>=<value> into the node's settings
CLUSTER_MODE = f"{SETTING_PROPERTY}discovery.type=multi-node"  # on the command line of a cluster's nodes
TRANSPORT_OFFSET = 100  # transport port = HTTP port + 100: 9300 beside 9200, as Elasticsearch's defaults
MAX_NODES = 9  # a cluster on one machine; 512 MB of heap each already makes 9 a lot
RESOURCES = Path(__file__).parent  # pom.xml, log4j2.properties and java/ ship in this package


class DevNodeError(Exception):
    """The dev node cannot be prepared or started; the message says what to do."""


@dataclass(frozen=True)
class RunningNode:
    name: str
    url: str
    pid: int | None  # None when our node answers but was started from another project folder


@dataclass(frozen=True)
class _Node:
    """Where one node of a cluster lives and listens."""

    name: str
    folder: Path
    http_port: int
    transport_port: int

    @property
    def url(self) -> str:
        return _url(self.http_port)


# --- paths -------------------------------------------------------------------


def _workdir(project: Project) -> Path:
    """Generated state, never committed: the jars, and the default cluster's nodes."""
    return project.data_dir / "elasticsearch"


def _node_folder(work: Path, index: int) -> Path:
    """Node 0 lives in the work folder itself, where the single dev node always has."""
    return work if index == 0 else work / f"node-{index}"


def _node_name(index: int) -> str:
    return NODE_NAME if index == 0 else f"{NODE_NAME}-{index}"


def _layout(work: Path, nodes: int, port: int, transport_port: int) -> list[_Node]:
    return [_Node(_node_name(i), _node_folder(work, i), port + i, transport_port + i) for i in range(nodes)]


def _existing_folders(work: Path) -> list[Path]:
    """Node folders of the work folder: node 0, then node-1, node-2, ... while they exist."""
    folders = [work]
    while (folder := _node_folder(work, len(folders))).is_dir():
        folders.append(folder)
    return folders


def _pid_file(folder: Path) -> Path:
    return folder / "node.pid"


def _log_file(folder: Path) -> Path:
    return folder / "logs" / "node.log"


def _has_data(folder: Path) -> bool:
    """Whether the node has been started before (it keeps its cluster state here)."""
    return (folder / "home" / "data" / "_state").is_dir()


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


# --- public API --------------------------------------------------------------


def urls(nodes: list[RunningNode]) -> str:
    """The nodes' URLs as ``STOREFRONT_ELASTICSEARCH_URL`` takes them: comma-separated."""
    return ",".join(node.url for node in nodes)


def status(project: Project, port: int = 9200, *, workdir: Path | None = None) -> list[RunningNode]:
    """The nodes of the work folder that answer (any health colour), in node order; node ``i``
    on ``port + i``. A node that does not answer (stopped, killed) is left out."""
    running = []
    for index, folder in enumerate(_existing_folders(workdir or _workdir(project))):
        if _our_health(port + index, local=True) is None:
            continue
        pid = _running_pid(folder)
        running.append(RunningNode(_node_name(index), _url(port + index),
                                   pid if pid is not None and _launched_port(pid) == port + index else None))
    return running


def start(
    project: Project,
    port: int = 9200,
    timeout: float = 120.0,
    *,
    nodes: int = 1,
    workdir: Path | None = None,
    transport_port: int | None = None,
    heap_mb: int | None = None,
) -> list[RunningNode]:
    """Start the nodes that do not run yet and wait until the cluster is ready; return its nodes.

    Ready is yellow or green for one node (replicas have nowhere to go), green with every node
    joined for a cluster. Idempotent: nodes already running from the work folder are kept (a
    node still starting is waited for, not started twice), missing ones start again with their
    data. Only a cluster none of whose nodes has data yet is bootstrapped
    (``cluster.initial_master_nodes``): a restarted node must join the cluster it had, not
    elect a new one.
    """
    transport = port + TRANSPORT_OFFSET if transport_port is None else transport_port
    _check_ports(nodes, port, transport)
    work = workdir or _workdir(project)
    layout = _layout(work, nodes, port, transport)
    if nodes == 1 and _has_data(_node_folder(work, 1)):
        raise DevNodeError(
            f"{work} holds a cluster of several nodes: start it with --nodes (as many as it had),"
            " or delete the folder to start a single node afresh"
        )
    missing = [node for node in layout if not _runs(node, nodes)]
    launched: list[int] = []
    if missing:
        try:
            java, major = find_jdk(MIN_JAVA)
        except JdkNotFound as error:
            raise DevNodeError(str(error)) from None
        shared = _workdir(project)
        _prepare(shared, java)
        bootstrap = nodes > 1 and not any(_has_data(node.folder) for node in layout)
        heap = heap_mb or (1024 if nodes == 1 else 512)
        for node in missing:
            launched.append(_launch(shared, node, java, major, _node_settings(node, layout, bootstrap), heap))
    _wait_until_ready(layout, launched, timeout)
    return [RunningNode(node.name, node.url, _running_pid(node.folder)) for node in layout]


def stop(project: Project, timeout: float = 30.0, *, workdir: Path | None = None) -> bool:
    """Stop every node of the work folder; return whether one was running."""
    return _stop(_existing_folders(workdir or _workdir(project)), timeout)


def _stop(folders: list[Path], timeout: float = 30.0) -> bool:
    """SIGTERM lets the launcher's shutdown hook close each node cleanly (flushes Lucene and
    the cluster state), all at once; SIGKILL those that do not finish within ``timeout``."""
    pids = [pid for folder in folders if (pid := _running_pid(folder)) is not None]
    for pid in pids:
        processes.send_signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        if not processes.wait_for_exit(pid, deadline - time.monotonic()):
            processes.send_signal(pid, signal.SIGKILL)
            processes.wait_for_exit(pid, 10.0)
    for folder in folders:
        _pid_file(folder).unlink(missing_ok=True)
    return bool(pids)


def _check_ports(nodes: int, port: int, transport: int) -> None:
    if not 1 <= nodes <= MAX_NODES:
        raise DevNodeError(f"invalid node count {nodes}: pick one in 1-{MAX_NODES}")
    for first, what in ((port, "port"), (transport, "transport port")):
        if first < 1 or first + nodes - 1 > 65535:
            raise DevNodeError(f"invalid {what} {first}: {nodes} node(s) need {first}-{first + nodes - 1},"
                               " within 1-65535")
    if port < transport + nodes and transport < port + nodes:
        raise DevNodeError(
            f"HTTP ports {port}-{port + nodes - 1} and transport ports {transport}-{transport + nodes - 1} overlap"
        )


def _runs(node: _Node, nodes: int) -> bool:
    """Whether the node runs (or is starting), so it need not be launched; raise if its port
    is taken or it runs in a way this start cannot use."""
    pid = _running_pid(node.folder)
    if pid is not None:
        if _launched_port(pid) != node.http_port:
            raise DevNodeError(
                f"node {node.name} of {node.folder} already runs on port {_launched_port(pid)} (pid {pid}):"
                " use that port, or stop it first"
            )
        if (CLUSTER_MODE in processes.cmdline(pid)) != (nodes > 1):
            raise DevNodeError(
                f"node {node.name} of {node.folder} runs as {'part of a cluster' if nodes == 1 else 'a single node'}"
                f" (pid {pid}): stop it first to start {nodes} node(s)"
            )
        return True  # up, or still starting: waited for below
    health = _our_health(node.http_port, local=True)
    if health is not None and nodes == 1:
        return True  # as ever, a dev node started from another clone of the project serves this one too
    if health is not None:
        raise DevNodeError(
            f"port {node.http_port} is used by a {CLUSTER_NAME} node that {node.folder} did not start:"
            " stop it or pick another port"
        )
    if _port_answers(node.http_port):
        raise DevNodeError(
            f"port {node.http_port} is used by another service (not the {CLUSTER_NAME} node):"
            " stop it or pick another port"
        )
    return False


def _node_settings(node: _Node, layout: list[_Node], bootstrap: bool) -> dict[str, str]:
    """What DevNode.java does not set itself: the node's name and transport port, and how a
    cluster's nodes find each other (a single node discovers nobody)."""
    settings = {"node.name": node.name, "transport.port": str(node.transport_port)}
    if len(layout) == 1:
        return settings  # DevNode's default: discovery.type single-node
    settings["discovery.type"] = "multi-node"
    # Always, not only on the first start: without it a node probes 9300-9305, the dev node's ports.
    settings["discovery.seed_hosts"] = ",".join(f"127.0.0.1:{other.transport_port}" for other in layout)
    if bootstrap:
        settings["cluster.initial_master_nodes"] = ",".join(other.name for other in layout)
    return settings


# --- health ------------------------------------------------------------------


def _our_health(port: int, local: bool = False) -> ClusterHealth | None:
    """Health of the node on ``port`` if it is ours (by cluster name), else None. ``local``
    asks the node alone, which answers at once even while its cluster has no master."""
    health = cluster_health(_url(port), local=local)
    return health if health is not None and health.cluster_name == CLUSTER_NAME else None


def _port_answers(port: int) -> bool:
    """Whether anything at all answers HTTP on the port (the node could not bind it)."""
    try:
        with urllib.request.urlopen(_url(port) + "/", timeout=2.0):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _cluster_ready(layout: list[_Node]) -> bool:
    if len(layout) == 1:
        health = _our_health(layout[0].http_port)
        return health is not None and health.ready
    for node in layout:  # any node answers for the cluster; node 0 may be the one still starting
        health = _our_health(node.http_port)
        if health is not None:
            return health.status == "green" and health.nodes == len(layout)
    return False


# --- process -----------------------------------------------------------------


def _running_pid(folder: Path) -> int | None:
    """Pid from the pid file if that process is alive and is our launcher; else clean up."""
    pid_file = _pid_file(folder)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if processes.alive(pid) and LAUNCHER_CLASS in processes.cmdline(pid):  # guards against a reused pid
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _launched_port(pid: int) -> int | None:
    """HTTP port the launcher was given: the last argument of its command line."""
    args = processes.cmdline(pid)
    return int(args[-1]) if args and args[-1].isdigit() else None


def _wait_until_ready(layout: list[_Node], launched: list[int], timeout: float) -> None:
    """Poll health until ready; if a node launched here dies, or on timeout, stop the nodes
    launched here (no half-started cluster left behind) and raise with a log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _cluster_ready(layout):
            return
        for node in layout:
            pid = _read_pid(node.folder)
            if pid in launched and not processes.alive(pid):
                _stop([n.folder for n in layout if _read_pid(n.folder) in launched])
                _pid_file(node.folder).unlink(missing_ok=True)
                raise DevNodeError(
                    f"dev Elasticsearch node {node.name} exited during start-up; see the log below"
                    f" ({_log_file(node.folder)})\n{processes.log_tail(_log_file(node.folder))}"
                )
        time.sleep(0.25)
    _stop([node.folder for node in layout if _read_pid(node.folder) in launched])
    first = layout[0]
    raise DevNodeError(
        f"dev Elasticsearch not ready on port {first.http_port}"
        f"{'' if len(layout) == 1 else f'-{layout[-1].http_port} (green with {len(layout)} nodes)'}"
        f" after {timeout:.0f}s (stopped what this start launched); see {_log_file(first.folder)}\n"
        f"{processes.log_tail(_log_file(first.folder))}"
    )


def _read_pid(folder: Path) -> int | None:
    try:
        return int(_pid_file(folder).read_text().strip())
    except (OSError, ValueError):
        return None


# --- jars and launcher -------------------------------------------------------


def _prepare(shared: Path, java: Path) -> None:
    """Jars and launcher, built once for every cluster of the project; the lock keeps two
    starts at once (a test's cluster beside the dev node) from building over each other."""
    shared.mkdir(parents=True, exist_ok=True)
    with _locked(shared / ".build.lock"):
        _fetch_jars(shared)
        _compile_launcher(shared, java)
        _link_natives(shared)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fetch_jars(work: Path) -> None:
    """Copy the server's runtime jars into <work>/lib once per version.

    The marker is written last, so an interrupted fetch is redone next time.
    """
    lib = work / "lib"
    marker = lib / ".version"
    if marker.is_file() and marker.read_text().strip() == ES_VERSION:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevNodeError(
            "mvn not found: apt-get install maven (needed once to fetch the Elasticsearch jars)"
        )
    shutil.rmtree(lib, ignore_errors=True)
    result = subprocess.run(
        [
            mvn, "-B", "-q", "-f", str(RESOURCES / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}", f"-Delasticsearch.version={ES_VERSION}",
        ],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise DevNodeError(
            f"mvn could not fetch Elasticsearch {ES_VERSION} jars: check access to Maven"
            f" Central (and ~/.m2/settings.xml proxies)\n{tail}"
        )
    marker.write_text(ES_VERSION + "\n")


def _compile_launcher(work: Path, java: Path) -> None:
    """javac the launcher when its sources or the ES version changed since the last build."""
    sources = sorted((RESOURCES / "java").rglob("*.java"))
    classes = work / "classes"
    stamp = classes / ".stamp"
    if stamp.is_file() and stamp.read_text().strip() == ES_VERSION:
        built = stamp.stat().st_mtime
        if all(s.stat().st_mtime <= built for s in sources):
            return
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    result = subprocess.run(
        [
            str(java.parent / "javac"), "--release", str(MIN_JAVA), "-nowarn",
            "-cp", str(work / "lib" / "*"), "-d", str(classes),
            *map(str, sources),
        ],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise DevNodeError(
            f"javac failed on {RESOURCES / 'java'} for ES {ES_VERSION}: the launcher"
            f" needs updating to this version's API\n{result.stdout}{result.stderr}"
        )
    stamp.write_text(ES_VERSION + "\n")


# --- launch ------------------------------------------------------------------


def _link_natives(work: Path) -> None:
    """``<work>/native``, the folder ES loads native libraries from (``es.nativelibs.path``).

    ES's own natives are not on Maven Central. Without libzstd, ES disables native access
    and shards of ``index.codec: best_compression`` indices fail on flush, so link the
    system libzstd (Debian: libzstd1) when there is one. The vector library (libvec) is
    turned off by a system property instead.
    """
    native = work / "native"
    native.mkdir(parents=True, exist_ok=True)
    link = native / "libzstd.so"
    if not link.exists():
        for lib_dir in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
            system_zstd = Path(lib_dir) / "libzstd.so.1"
            if system_zstd.exists():
                link.unlink(missing_ok=True)  # a dangling link from an older system
                link.symlink_to(system_zstd)
                break


def _jvm_args(shared: Path, folder: Path, java_major: int, heap_mb: int, cluster: bool) -> list[str]:
    # A cluster's nodes take their whole heap at once, as Elasticsearch advises; the single dev
    # node grows to it from 512 MB, as it always has.
    args = [
        f"-Xms{heap_mb if cluster else min(heap_mb, 512)}m", f"-Xmx{heap_mb}m",
        "--enable-native-access=ALL-UNNAMED",  # ES calls native code via the FFM API
        "--add-modules=jdk.incubator.vector",  # Lucene's fast vector paths
        f"-XX:ErrorFile={folder / 'logs' / 'hs_err_pid%p.log'}",
        f"-Djava.io.tmpdir={folder / 'tmp'}",
        f"-Des.nativelibs.path={shared / 'native'}",
        "-Dorg.elasticsearch.nativeaccess.enableVectorLibrary=false",  # libvec is not published
        # ES's own defaults from its jvm.options:
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",  # else log4j stops before the node logs its close
        f"-Dlog4j2.configurationFile={RESOURCES / 'log4j2.properties'}",
    ]
    if java_major >= 24:
        args.append("--sun-misc-unsafe-memory-access=allow")  # quiets netty's Unsafe warning
    return args


def _launch(shared: Path, node: _Node, java: Path, java_major: int, settings: dict[str, str], heap_mb: int) -> int:
    """Start the node's JVM detached (own session, output to its node.log) and record its pid."""
    home = node.folder / "home"
    for folder in (home, node.folder / "logs", node.folder / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(java), *_jvm_args(shared, node.folder, java_major, heap_mb, settings.get("discovery.type") == "multi-node"),
        *(f"{SETTING_PROPERTY}{key}={value}" for key, value in settings.items()),
        "-cp", f"{shared / 'classes'}{os.pathsep}{shared / 'lib' / '*'}",
        LAUNCHER_CLASS, str(home), str(node.http_port),
    ]
    pid = processes.spawn(argv, _log_file(node.folder), os.environ, truncate=True)
    _pid_file(node.folder).write_text(f"{pid}\n")
    return pid
