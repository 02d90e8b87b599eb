"""A real single-node Elasticsearch for development and tests, without Docker.

The node is Elasticsearch's server core plus the netty4 HTTP transport, fetched from Maven
Central by ``devtools/elasticsearch/pom.xml`` and started by the small launcher in
``devtools/elasticsearch/src``. It lacks the bundled modules (``analysis-common``,
``reindex``, ``painless``, ``mapper-extras``, ``rest-root``) and x-pack, so code must use
only what a full cluster and this node both have.

Everything it creates lives under ``<project_root>/.devtools/elasticsearch`` (git-ignored):
``lib/`` (jars), ``classes/`` (compiled launcher), ``home/`` (data), ``logs/node.log`` and
``node.pid``. The node runs detached, so it outlives the Python process that started it
until :func:`stop` is called.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

# Keep in step with devtools/elasticsearch/pom.xml and the client pin in pyproject.toml
# (client major == server major). 9.4.x is not on Maven Central; 9.5.3 is.
ES_VERSION = "9.5.3"
MIN_JAVA = 21  # ES 9.x is compiled for Java 21
CLUSTER_NAME = "storefront-dev"  # set by DevNode.java; tells our node from a stranger's
LAUNCHER_CLASS = "org.elasticsearch.node.DevNode"


class DevNodeError(Exception):
    """The dev node cannot be prepared or started; the message says what to do."""


# --- paths -------------------------------------------------------------------


def _sources(project_root: Path) -> Path:
    """Committed inputs: pom.xml, launcher sources, log4j2.properties."""
    return project_root / "devtools" / "elasticsearch"


def _workdir(project_root: Path) -> Path:
    """Generated state, never committed."""
    return project_root / ".devtools" / "elasticsearch"


def _pid_file(project_root: Path) -> Path:
    return _workdir(project_root) / "node.pid"


def _log_file(project_root: Path) -> Path:
    return _workdir(project_root) / "logs" / "node.log"


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


# --- public API --------------------------------------------------------------


def status(project_root: Path, port: int = 9200) -> str | None:
    """URL of our dev node if one answers on ``port`` (any health colour), else None."""
    return None if _health(port) is None else _url(port)


def start(project_root: Path, port: int = 9200, timeout: float = 120.0) -> str:
    """Start the dev node if needed and wait until it is yellow or green; return its URL.

    Idempotent: a healthy node already on ``port`` is reused, and a node still starting
    (its pid file is alive) is waited for instead of started twice.
    """
    if not 0 < port < 65536:
        raise DevNodeError(f"invalid port {port}: pick one in 1-65535")
    root = project_root.resolve()
    health = _health(port)
    if _is_ready(health):
        return _url(port)
    if health is None and _port_answers(port):
        raise DevNodeError(
            f"port {port} is used by another service (not the {CLUSTER_NAME} node):"
            " stop it or pick another port"
        )
    pid = _running_pid(root)
    if pid is not None and _launched_port(pid) != port:
        raise DevNodeError(
            f"the dev node of {root} already runs on port {_launched_port(pid)} (pid {pid}):"
            " use that port, or stop() it first"
        )
    if pid is None and health is None:  # else ours is up (recovering shards): just wait
        java, major = _find_java()
        _fetch_jars(root)
        _compile_launcher(root, java)
        pid = _launch(root, java, major, port)
    _wait_until_ready(root, pid, port, timeout)
    return _url(port)


def stop(project_root: Path, timeout: float = 30.0) -> bool:
    """Stop the node named in the pid file; return whether one was running.

    SIGTERM lets the launcher's shutdown hook close the node cleanly (flushes Lucene and
    the cluster state); SIGKILL only if that does not finish within ``timeout``.
    """
    root = project_root.resolve()
    pid = _running_pid(root)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10.0)
    _pid_file(root).unlink(missing_ok=True)
    return pid is not None


# --- health ------------------------------------------------------------------


def _health(port: int) -> dict[str, object] | None:
    """``GET /_cluster/health`` of our node as a dict, or None if our node does not answer.

    Readiness uses this endpoint because ``GET /`` lives in the ``rest-root`` module,
    which the dev node does not have.
    """
    try:
        with urllib.request.urlopen(_url(port) + "/_cluster/health", timeout=2.0) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):  # URLError/HTTPError/timeouts are OSErrors
        return None
    if not isinstance(body, dict) or body.get("cluster_name") != CLUSTER_NAME:
        return None
    return body


def _is_ready(health: dict[str, object] | None) -> bool:
    """Every primary shard assigned (yellow is as good as it gets on one node)."""
    return health is not None and health.get("status") in ("yellow", "green")


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


def _running_pid(root: Path) -> int | None:
    """Pid from the pid file if that process is alive and is our launcher; else clean up."""
    pid_file = _pid_file(root)
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


def _wait_until_ready(root: Path, pid: int | None, port: int, timeout: float) -> None:
    """Poll health until ready; on death or timeout raise with the log's tail.

    ``pid`` is None when a node of ours answers but has no pid file; then only time counts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_ready(_health(port)):
            return
        if pid is not None and not _alive(pid):
            _pid_file(root).unlink(missing_ok=True)
            raise DevNodeError(
                "dev Elasticsearch exited during start-up; see the log below"
                f" ({_log_file(root)})\n{_log_tail(root)}"
            )
        time.sleep(0.25)
    stop(root)  # do not leave a half-started node behind
    raise DevNodeError(
        f"dev Elasticsearch not ready on port {port} after {timeout:.0f}s"
        f" (stopped it); see {_log_file(root)}\n{_log_tail(root)}"
    )


def _log_tail(root: Path, lines: int = 20) -> str:
    try:
        text = _log_file(root).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# --- java --------------------------------------------------------------------


def _find_java() -> tuple[Path, int]:
    """A JDK ``java`` of version MIN_JAVA+ and its major: JAVA_HOME's if good, else the newest.

    Only JDKs count (javac is needed to compile the launcher).
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        major = _java_major(java) if _is_jdk(java) else 0
        if major >= MIN_JAVA:
            return java, major
    candidates = sorted(Path("/usr/lib/jvm").glob("*/bin/java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    best: tuple[int, Path] | None = None
    for java in {c.resolve() for c in candidates}:
        if not _is_jdk(java):
            continue
        major = _java_major(java)
        if major >= MIN_JAVA and (best is None or major > best[0]):
            best = (major, java)
    if best is None:
        raise DevNodeError(
            f"java {MIN_JAVA}+ JDK not found: install a JDK {MIN_JAVA}+"
            f" (apt-get install openjdk-{MIN_JAVA}-jdk, or Temurin) or set JAVA_HOME to one"
        )
    return best[1], best[0]


def _is_jdk(java: Path) -> bool:
    return java.is_file() and (java.parent / "javac").is_file()


def _java_major(java: Path) -> int:
    """Feature version from ``java.specification.version`` (``17``, ``21``; ``1.8`` -> 8)."""
    try:
        out = subprocess.run(
            [str(java), "-XshowSettings:properties", "-version"],
            capture_output=True, text=True, timeout=30, check=False,
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for line in out.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "java.specification.version":
            parts = value.split(".")
            return int(parts[1] if parts[0] == "1" else parts[0])
    return 0


# --- jars and launcher -------------------------------------------------------


def _fetch_jars(root: Path) -> None:
    """Copy the server's runtime jars into .devtools/elasticsearch/lib once per version.

    The marker is written last, so an interrupted fetch is redone next time.
    """
    lib = _workdir(root) / "lib"
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
            mvn, "-B", "-q", "-f", str(_sources(root) / "pom.xml"),
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


def _compile_launcher(root: Path, java: Path) -> None:
    """javac the launcher when its sources or the ES version changed since the last build."""
    sources = sorted((_sources(root) / "src").rglob("*.java"))
    classes = _workdir(root) / "classes"
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
            "-cp", str(_workdir(root) / "lib" / "*"), "-d", str(classes),
            *map(str, sources),
        ],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise DevNodeError(
            f"javac failed on devtools/elasticsearch/src for ES {ES_VERSION}: the launcher"
            f" needs updating to this version's API\n{result.stdout}{result.stderr}"
        )
    stamp.write_text(ES_VERSION + "\n")


# --- launch ------------------------------------------------------------------


def _native_dir(root: Path) -> Path:
    """Folder ES loads native libraries from (``es.nativelibs.path``).

    ES's own natives are not on Maven Central. Without libzstd, ES disables native access
    and shards of ``index.codec: best_compression`` indices fail on flush, so link the
    system libzstd (Debian: libzstd1) when there is one. The vector library (libvec) is
    turned off by a system property instead.
    """
    native = _workdir(root) / "native"
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


def _jvm_args(root: Path, java_major: int) -> list[str]:
    work = _workdir(root)
    args = [
        "-Xms512m", "-Xmx1g",
        "--enable-native-access=ALL-UNNAMED",  # ES calls native code via the FFM API
        "--add-modules=jdk.incubator.vector",  # Lucene's fast vector paths
        f"-XX:ErrorFile={work / 'logs' / 'hs_err_pid%p.log'}",
        f"-Djava.io.tmpdir={work / 'tmp'}",
        f"-Des.nativelibs.path={_native_dir(root)}",
        "-Dorg.elasticsearch.nativeaccess.enableVectorLibrary=false",  # libvec is not published
        # ES's own defaults from its jvm.options:
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",  # else log4j stops before the node logs its close
        f"-Dlog4j2.configurationFile={_sources(root) / 'log4j2.properties'}",
    ]
    if java_major >= 24:
        args.append("--sun-misc-unsafe-memory-access=allow")  # quiets netty's Unsafe warning
    return args


def _launch(root: Path, java: Path, java_major: int, port: int) -> int:
    """Start the JVM detached (own session, output to node.log) and record its pid.

    posix_spawn rather than subprocess.Popen: a Popen object dropped while its child
    still runs emits a ResourceWarning, which the test suite turns into an error.
    """
    work = _workdir(root)
    home = work / "home"
    for folder in (home, work / "logs", work / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(java), *_jvm_args(root, java_major),
        "-cp", f"{work / 'classes'}{os.pathsep}{work / 'lib' / '*'}",
        LAUNCHER_CLASS, str(home), str(port),
    ]
    log = str(_log_file(root))
    pid = os.posix_spawn(
        str(java), argv, dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,  # SIGINT to the caller's terminal must not reach the node
    )
    _pid_file(root).write_text(f"{pid}\n")
    return pid
