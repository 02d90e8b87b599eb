"""HAProxy (Debian's ``haproxy`` package, which ``scripts/setup`` installs) in front of API
processes, from the configuration template ``haproxy.cfg`` beside this module: round-robin over
HTTP and WebSocket, health-checked on ``/readyz``."""

from __future__ import annotations

import shutil
import socket
import string
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("haproxy.cfg")
DEBIAN_BINARY = Path("/usr/sbin/haproxy")  # off a normal user's PATH
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class HaproxyError(Exception):
    """HAProxy is missing, refuses its configuration or does not come up; the message says why."""


@dataclass(frozen=True)
class Backend:
    name: str
    port: int


def binary() -> Path:
    found = shutil.which("haproxy")
    if found is not None:
        return Path(found)
    if DEBIAN_BINARY.is_file():
        return DEBIAN_BINARY
    raise HaproxyError("HAProxy is not installed: apt-get install haproxy (scripts/setup does)")


def stats_socket(folder: Path) -> Path:
    path = folder / "haproxy.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        raise HaproxyError(f"the path {path} is too long for HAProxy's stats socket: use a shorter project folder")
    return path


def configuration(front_port: int, backends: Sequence[Backend], stats: Path) -> str:
    servers = "\n".join(f"    server {backend.name} 127.0.0.1:{backend.port}" for backend in backends)
    return string.Template(TEMPLATE.read_text()).substitute(
        front_port=front_port, servers=servers, stats_socket=stats)


def write_configuration(folder: Path, front_port: int, backends: Sequence[Backend]) -> list[str]:
    """Write ``haproxy.cfg`` into ``folder`` and check it with ``haproxy -c``; return the command
    line that runs HAProxy on it in the foreground."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "haproxy.cfg"
    config.write_text(configuration(front_port, backends, stats_socket(folder)))
    argv = [str(binary()), "-db", "-f", str(config)]
    checked = subprocess.run([argv[0], "-c", "-q", "-f", str(config)], capture_output=True, text=True,
                             check=False, stdin=subprocess.DEVNULL)
    if checked.returncode != 0:
        raise HaproxyError(f"HAProxy refuses {config}: {(checked.stderr or checked.stdout).strip()}")
    return argv


def server_states(folder: Path, timeout_s: float = 2.0) -> dict[str, str] | None:
    """The state HAProxy gives each API process (``UP``, ``DOWN``, ``UP 1/2`` while rising ...),
    from ``show stat`` on its stats socket; None while nothing answers there."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout_s)
            connection.connect(str(stats_socket(folder)))
            connection.sendall(b"show stat\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
    except OSError:
        return None
    lines = answer.decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    header = lines[0][2:].split(",")
    proxy, server, status = header.index("pxname"), header.index("svname"), header.index("status")
    rows = [line.split(",") for line in lines[1:] if line]
    return {row[server]: row[status] for row in rows
            if row[proxy] == "api" and row[server] not in ("FRONTEND", "BACKEND")}


def wait_until_in_rotation(folder: Path, names: Sequence[str], timeout_s: float) -> dict[str, str]:
    """Until HAProxy has every API process in ``names`` UP; return the states."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = server_states(folder)
        if states is not None and all(states.get(name) == "UP" for name in names):
            return states
        if time.monotonic() > deadline:
            raise HaproxyError(f"HAProxy did not put {', '.join(names)} in rotation within {timeout_s:g} s: {states}")
        time.sleep(0.1)
