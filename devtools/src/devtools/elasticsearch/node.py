"""A real single-node Elasticsearch for development and tests, without Docker.

The node is Elasticsearch's server core plus the netty4 HTTP transport, fetched from Maven
Central by ``pom.xml`` beside this module and started by the small launcher in ``java/``. It
lacks the bundled modules (``analysis-common``, ``reindex``, ``painless``, ``mapper-extras``,
``rest-root``) and x-pack, so code must use only what a full cluster and this node both have.

Everything it creates lives under ``<project data dir>/elasticsearch`` (``.devtools/``,
git-ignored): ``lib/`` (jars), ``classes/`` (compiled launcher), ``home/`` (data),
``logs/node.log`` and ``node.pid``. The node runs detached, so it outlives the Python process
that started it until :func:`stop` is called. Linux only (``/proc``, ``posix_spawn``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devtools.health import ClusterHealth, cluster_health
from devtools.jdk import JdkNotFound, find_jdk
from devtools.project import Project

# Keep in step with pom.xml and the client pin in the product's pyproject.toml
# (client major == server major). 9.4.x is not on Maven Central; 9.5.3 is.
ES_VERSION = "9.5.3"
MIN_JAVA = 21  # ES 9.x is compiled for Java 21
CLUSTER_NAME = "storefront-dev"  # set by DevNode.java; tells our node from a stranger's
NODE_NAME = "dev"  # set by DevNode.java
LAUNCHER_CLASS = "org.elasticsearch.node.DevNode"
RESOURCES = Path(__file__).parent  # pom.xml, log4j2.properties and java/ ship in this package


class DevNodeError(Exception):
    """The dev node cannot be prepared or started; the message says what to do."""


@dataclass(frozen=True)
class RunningNode:
    name: str
    url: str
    pid: int | None  # None when our node answers but was started from another project folder


# --- paths -------------------------------------------------------------------


def _workdir(project: Project) -> Path:
    """Generated state, never committed."""
    return project.data_dir / "elasticsearch"


def _pid_file(work: Path) -> Path:
    return work / "node.pid"


def _log_file(work: Path) -> Path:
    return work / "logs" / "node.log"


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


# --- public API --------------------------------------------------------------


def status(project: Project, port: int = 9200) -> RunningNode | None:
    """Our dev node if it answers on ``port`` (any health colour), else None."""
    if _our_health(port) is None:
        return None
    pid = _running_pid(_workdir(project))
    return RunningNode(NODE_NAME, _url(port), pid if pid is not None and _launched_port(pid) == port else None)


def start(project: Project, port: int = 9200, timeout: float = 120.0) -> str:
    """Start the dev node if needed and wait until it is yellow or green; return its URL.

    Idempotent: a healthy node already on ``port`` is reused, and a node still starting
    (its pid file is alive) is waited for instead of started twice.
    """
    if not 0 < port < 65536:
        raise DevNodeError(f"invalid port {port}: pick one in 1-65535")
    work = _workdir(project)
    health = _our_health(port)
    if health is not None and health.ready:
        return _url(port)
    if health is None and _port_answers(port):
        raise DevNodeError(
            f"port {port} is used by another service (not the {CLUSTER_NAME} node):"
            " stop it or pick another port"
        )
    pid = _running_pid(work)
    if pid is not None and _launched_port(pid) != port:
        raise DevNodeError(
            f"the dev node of {project.root} already runs on port {_launched_port(pid)} (pid {pid}):"
            " use that port, or stop it first"
        )
    if pid is None and health is None:  # else ours is up (recovering shards): just wait
        try:
            java, major = find_jdk(MIN_JAVA)
        except JdkNotFound as error:
            raise DevNodeError(str(error)) from None
        _fetch_jars(work)
        _compile_launcher(work, java)
        pid = _launch(work, java, major, port)
    _wait_until_ready(work, pid, port, timeout)
    return _url(port)


def stop(project: Project, timeout: float = 30.0) -> bool:
    """Stop the node named in the pid file; return whether one was running."""
    return _stop(_workdir(project), timeout)


def _stop(work: Path, timeout: float = 30.0) -> bool:
    """SIGTERM lets the launcher's shutdown hook close the node cleanly (flushes Lucene and
    the cluster state); SIGKILL only if that does not finish within ``timeout``."""
    pid = _running_pid(work)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10.0)
    _pid_file(work).unlink(missing_ok=True)
    return pid is not None


# --- health ------------------------------------------------------------------


def _our_health(port: int) -> ClusterHealth | None:
    """Health of the node on ``port`` if it is ours (by cluster name), else None."""
    health = cluster_health(_url(port))
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


# --- process -----------------------------------------------------------------


def _running_pid(work: Path) -> int | None:
    """Pid from the pid file if that process is alive and is our launcher; else clean up."""
    pid_file = _pid_file(work)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid) and LAUNCHER_CLASS in _cmdline(pid):  # guards against a reused pid
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it first if it is our own exited child."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier Python process): fine
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _launched_port(pid: int) -> int | None:
    """HTTP port the launcher was given: the last argument of its command line."""
    args = _cmdline(pid).split()
    return int(args[-1]) if args and args[-1].isdigit() else None


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _wait_until_ready(work: Path, pid: int | None, port: int, timeout: float) -> None:
    """Poll health until ready; on death or timeout raise with the log's tail.

    ``pid`` is None when a node of ours answers but has no pid file; then only time counts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = _our_health(port)
        if health is not None and health.ready:
            return
        if pid is not None and not _alive(pid):
            _pid_file(work).unlink(missing_ok=True)
            raise DevNodeError(
                "dev Elasticsearch exited during start-up; see the log below"
                f" ({_log_file(work)})\n{_log_tail(work)}"
            )
        time.sleep(0.25)
    _stop(work)  # do not leave a half-started node behind
    raise DevNodeError(
        f"dev Elasticsearch not ready on port {port} after {timeout:.0f}s"
        f" (stopped it); see {_log_file(work)}\n{_log_tail(work)}"
    )


def _log_tail(work: Path, lines: int = 20) -> str:
    try:
        text = _log_file(work).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# --- jars and launcher -------------------------------------------------------


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


def _native_dir(work: Path) -> Path:
    """Folder ES loads native libraries from (``es.nativelibs.path``).

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
    return native


def _jvm_args(work: Path, java_major: int) -> list[str]:
    args = [
        "-Xms512m", "-Xmx1g",
        "--enable-native-access=ALL-UNNAMED",  # ES calls native code via the FFM API
        "--add-modules=jdk.incubator.vector",  # Lucene's fast vector paths
        f"-XX:ErrorFile={work / 'logs' / 'hs_err_pid%p.log'}",
        f"-Djava.io.tmpdir={work / 'tmp'}",
        f"-Des.nativelibs.path={_native_dir(work)}",
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


def _launch(work: Path, java: Path, java_major: int, port: int) -> int:
    """Start the JVM detached (own session, output to node.log) and record its pid.

    posix_spawn rather than subprocess.Popen: a Popen object dropped while its child
    still runs emits a ResourceWarning, which the test suite turns into an error.
    """
    home = work / "home"
    for folder in (home, work / "logs", work / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(java), *_jvm_args(work, java_major),
        "-cp", f"{work / 'classes'}{os.pathsep}{work / 'lib' / '*'}",
        LAUNCHER_CLASS, str(home), str(port),
    ]
    log = str(_log_file(work))
    pid = os.posix_spawn(
        str(java), argv, dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,  # SIGINT to the caller's terminal must not reach the node
    )
    _pid_file(work).write_text(f"{pid}\n")
    return pid
