"""Finding a JDK of a wanted version: JAVA_HOME's if good enough, else the newest installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class JdkNotFound(Exception):
    """No JDK of the wanted version; the message says how to get one."""


def find_jdk(min_major: int) -> tuple[Path, int]:
    """A JDK ``java`` of version ``min_major``+ and its major. Only JDKs count: callers compile."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        major = _java_major(java) if _is_jdk(java) else 0
        if major >= min_major:
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
        if major >= min_major and (best is None or major > best[0]):
            best = (major, java)
    if best is None:
        raise JdkNotFound(
            f"java {min_major}+ JDK not found: install a JDK {min_major}+"
            f" (apt-get install openjdk-{min_major}-jdk, or Temurin) or set JAVA_HOME to one"
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
