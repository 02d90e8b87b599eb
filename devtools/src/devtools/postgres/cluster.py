"""A real PostgreSQL cluster for development and tests, from the system's server binaries.

Debian's ``postgresql`` package (``scripts/setup`` installs it) puts ``initdb``, ``pg_ctl``
and ``psql`` under ``/usr/lib/postgresql/<major>/bin``, off PATH; the newest major found there
is used, else those on PATH. Everything the cluster writes lives under ``<project data
dir>/postgres`` (``.devtools/``, git-ignored): ``data/`` (the cluster, with the server's
``postmaster.pid``), ``server.log`` and ``password``. It listens on 127.0.0.1 only, over TCP
(no Unix socket, whose path length a deep project folder could exceed), and outlives the
process that started it until :func:`stop`.

PostgreSQL refuses to run as root, so as root every server command runs as the system user
:data:`SERVICE_USER` (created on first use) through ``runuser``, and the folder is its own
(in :data:`ELSEWHERE`, linked from the data dir, when that user cannot reach the project).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devtools import processes
from devtools.project import Project

SERVICE_USER = "storefront-pg"  # runs the server when the tooling runs as root
SUPERUSER = "storefront"  # the cluster's superuser, in the URL
DATABASE = "storefront"  # created by start()
DEFAULT_PORT = 5433  # beside, not on, a system cluster's 5432
ELSEWHERE = Path("/var/lib/storefront-pg")  # clusters of projects the server's user cannot reach
START_TIMEOUT_S = 60
# A throwaway cluster for development and tests: skipping fsync loses data only on an OS crash
# (a killed server still recovers from its WAL), and tests and benchmarks open many connections.
SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
full_page_writes = off
max_connections = 300
"""


class DevPostgresError(Exception):
    """The dev cluster cannot be prepared or started; the message says what to do."""


@dataclass(frozen=True)
class RunningCluster:
    url: str
    pid: int


# --- paths -------------------------------------------------------------------


def _workdir(project: Project) -> Path:
    """``<data dir>/postgres``, or where it links to (see :func:`_create_workdir`)."""
    return (project.data_dir / "postgres").resolve()


def _create_workdir(project: Project) -> Path:
    """As root, the server's user must reach the folder: when a folder above the project lets
    only root in (a clone in a ``mktemp -d`` folder, say), the cluster lives in
    :data:`ELSEWHERE` instead, and ``<data dir>/postgres`` links to it."""
    link = project.data_dir / "postgres"
    link.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or link.exists() or _reachable(link.parent):
        link.mkdir(exist_ok=True)
        return link.resolve()
    elsewhere = ELSEWHERE / hashlib.sha256(str(project.root).encode()).hexdigest()[:16]
    elsewhere.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    return elsewhere


def _reachable(folder: Path) -> bool:
    return _run([*_as_server_user(), "test", "-x", str(folder)], check=False).returncode == 0


def _data_dir(work: Path) -> Path:
    return work / "data"


def _log_file(work: Path) -> Path:
    return work / "server.log"


def _password_file(work: Path) -> Path:
    return work / "password"


def _url(work: Path, port: int, database: str = DATABASE) -> str:
    password = _password_file(work).read_text().strip()
    return f"postgresql+asyncpg://{SUPERUSER}:{password}@127.0.0.1:{port}/{database}"


# --- public API --------------------------------------------------------------


def status(project: Project) -> RunningCluster | None:
    """The cluster if its server runs and accepts connections, else None."""
    work = _workdir(project)
    running = _postmaster(work)
    if running is None:
        return None
    pid, port, state = running
    return RunningCluster(_url(work, port), pid) if state == "ready" else None


def start(project: Project, port: int = DEFAULT_PORT) -> str:
    """Create the cluster if needed, start it, wait until it accepts connections and make sure
    the database exists; return its URL. A cluster already running on ``port`` is reused."""
    if not 0 < port < 65536:
        raise DevPostgresError(f"invalid port {port}: pick one in 1-65535")
    work = _workdir(project)
    running = _postmaster(work)
    if running is not None and running[1] != port:
        raise DevPostgresError(
            f"the dev PostgreSQL of {project.root} already runs on port {running[1]} (pid {running[0]}):"
            " use that port, or stop it first"
        )
    bin_dir = _bin_dir()
    if running is None:
        _ensure_service_user()
        work = _create_workdir(project)
        _ensure_cluster(work, bin_dir)
        _pg_ctl(work, bin_dir, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(_log_file(work)),
                "-o", f"-p {port}")
    _ensure_database(work, bin_dir, port)
    return _url(work, port)


def create_database(project: Project, name: str) -> str:
    """Create the database ``name`` on the running cluster unless it exists; return its URL."""
    work, port = _running_for(project, name)
    _ensure_database(work, _bin_dir(), port, name)
    return _url(work, port, name)


def drop_database(project: Project, name: str) -> None:
    """Drop the database ``name`` of the running cluster if it exists, ending its sessions."""
    work, port = _running_for(project, name)
    _psql(work, _bin_dir(), port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _running_for(project: Project, database: str) -> tuple[Path, int]:
    """The work folder and port of the running cluster, for a statement on ``database``."""
    if re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database) is None:
        raise DevPostgresError(f"invalid database name {database!r}: use lower-case letters, digits and _")
    work = _workdir(project)
    running = _postmaster(work)
    if running is None or running[2] != "ready":
        raise DevPostgresError(f"the dev PostgreSQL of {project.root} does not run: storefront postgres start")
    return work, running[1]


def stop(project: Project) -> bool:
    """Stop the server (fast: open sessions are ended); return whether one was running."""
    work = _workdir(project)
    if _postmaster(work) is None:
        return False
    _pg_ctl(work, _bin_dir(), "stop", "-w", "-m", "fast")
    return True


# --- binaries and the service user --------------------------------------------


def _bin_dir() -> Path:
    """The newest installed major's server binaries."""
    installed = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if installed:
        return max(installed, key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0)
    on_path = shutil.which("initdb")
    if on_path is None:
        raise DevPostgresError("PostgreSQL's server is not installed: apt-get install postgresql (scripts/setup does)")
    return Path(on_path).resolve().parent


def _as_server_user() -> list[str]:
    """The prefix that runs a command as the server's user: nothing unless we are root."""
    return ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []


def _ensure_service_user() -> None:
    if os.geteuid() != 0 or _run(["id", "-u", SERVICE_USER], check=False).returncode == 0:
        return
    result = _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                  check=False)
    if result.returncode != 0 and _run(["id", "-u", SERVICE_USER], check=False).returncode != 0:
        raise DevPostgresError(f"cannot create the system user {SERVICE_USER} to run PostgreSQL:"
                               f" {result.stderr.strip()}")


# --- cluster -----------------------------------------------------------------


def _ensure_cluster(work: Path, bin_dir: Path) -> None:
    """initdb once; a folder left by an interrupted initdb (no PG_VERSION) is made anew."""
    data = _data_dir(work)
    if (data / "PG_VERSION").is_file():
        return
    shutil.rmtree(data, ignore_errors=True)
    password = _password_file(work)
    if not password.is_file():
        password.write_text(secrets.token_hex(16) + "\n")
        password.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(work, SERVICE_USER)
        shutil.chown(password, SERVICE_USER)
    _run([*_as_server_user(), str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8",
          "--no-locale", "--auth=scram-sha-256", f"--pwfile={password}"])
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_SETTINGS)


def _pg_ctl(work: Path, bin_dir: Path, *args: str) -> None:
    try:
        _run([*_as_server_user(), str(bin_dir / "pg_ctl"), "-D", str(_data_dir(work)), *args])
    except DevPostgresError as error:
        raise DevPostgresError(f"{error}\n{processes.log_tail(_log_file(work))}") from None


def _ensure_database(work: Path, bin_dir: Path, port: int, name: str = DATABASE) -> None:
    exists = _psql(work, bin_dir, port, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()
    if exists != "1":
        _psql(work, bin_dir, port, f"CREATE DATABASE {name}")


def _psql(work: Path, bin_dir: Path, port: int, statement: str) -> str:
    """Run one statement on the maintenance database as the superuser; its output."""
    env = {**os.environ, "PGPASSWORD": _password_file(work).read_text().strip()}
    psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc"]
    return _run([*psql, statement], env=env).stdout


def _postmaster(work: Path) -> tuple[int, int, str] | None:
    """(pid, port, state) from the server's ``postmaster.pid`` if that process is alive."""
    try:
        lines = (_data_dir(work) / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not _is_postgres(pid):
        return None  # a stale file after a crash: pg_ctl start handles it
    return pid, port, lines[7].strip() if len(lines) > 7 else "starting"


def _is_postgres(pid: int) -> bool:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return re.fullmatch(r"postgres|postmaster", name) is not None


def _run(argv: list[str], *, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        command = Path(argv[argv.index("--") + 1] if "--" in argv else argv[0]).name
        raise DevPostgresError(f"{command} failed: {(result.stderr or result.stdout).strip()}")
    return result
