"""PostgreSQL for the P benchmarks: a cluster of the benchmark's own (`storefront postgres`'s
tooling, in a folder under /tmp removed afterwards), never the shared dev cluster, whose
settings and load other work depends on. The dev tooling starts clusters with fsync off; the
benchmarks measure durable commits (fsync on, as in production) unless told otherwise."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy.engine import make_url

from bench.common.server import free_port
from devtools.postgres import cluster as dev_postgres
from devtools.project import Project


def driver_url(url: str) -> str:
    """The URL asyncpg itself takes, from a `postgresql+asyncpg://` one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Cluster:
    project: Project
    # Of the cluster's maintenance database: databases are created from here.
    url: str

    async def database(self, name: str, template: str = "template1") -> str:
        """A new database, empty or a copy of `template` (which nobody may be connected to); its
        `postgresql+asyncpg://` URL."""
        await self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    async def durable(self, on: bool) -> None:
        """fsync on (each commit waits for its WAL to reach the disk) or off (the dev tooling's
        setting); a reload applies it to every session."""
        await self.execute(f"ALTER SYSTEM SET fsync = {'on' if on else 'off'}")
        await self.execute("SELECT pg_reload_conf()")

    async def execute(self, statement: str) -> None:
        connection = await asyncpg.connect(driver_url(self.url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


@asynccontextmanager
async def private_cluster() -> AsyncIterator[Cluster]:
    """A PostgreSQL cluster of this benchmark's own, on a free port, with durable commits; stopped
    and removed at the end. Under /tmp, where the server's user (as root: storefront-pg) can reach it."""
    folder = await asyncio.to_thread(_project_folder)
    project = Project.find(folder)
    try:
        url = await asyncio.to_thread(dev_postgres.start, project, free_port())
        cluster = Cluster(project, url)
        await cluster.durable(True)
        yield cluster
    finally:
        await asyncio.to_thread(dev_postgres.stop, project)
        shutil.rmtree(folder, ignore_errors=True)


def _project_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="storefront-bench-pg-", dir="/tmp"))
    folder.chmod(0o755)
    (folder / "pyproject.toml").write_text('[tool.storefront-devtools]\ndata-dir = ".devtools"\n')
    return folder
