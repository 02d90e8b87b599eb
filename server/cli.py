"""The `storefront` command line (see OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from server import dev_elasticsearch
from server.app import create_app
from server.bootstrap import build, migrate as migrate_schema
from server.settings import Settings

app = typer.Typer(help="Storefront CQRS: GraphQL over a SQL write model and an Elasticsearch read model.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
elasticsearch_app = typer.Typer(help="A development Elasticsearch node built from Maven Central jars.",
                                no_args_is_help=True)
app.add_typer(elasticsearch_app, name="elasticsearch")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def main() -> None:
    app()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(f"STOREFRONT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
        raise _fail(f"invalid settings: {problems}") from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The client logs every request at INFO; failures reach us as exceptions anyway.
    logging.getLogger("elastic_transport").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


def _run(operation: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(operation())  # type: ignore[arg-type]
    except (OSError, SQLAlchemyError) as error:
        reason = str(error).splitlines()[0]
        raise _fail(f"{reason}; check STOREFRONT_DATABASE_URL and STOREFRONT_ELASTICSEARCH_URL") from None


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (socket.gaierror, ValueError):
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=1, max=65535)] = 8000,
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Do not run the sync worker in this process.")] = False,
    allow_open: Annotated[bool, typer.Option(
        "--allow-open", help="Bind a non-loopback host in open development mode (no JWT secret).")] = False,
) -> None:
    """Serve the GraphQL API (with the sync worker unless --no-sync)."""
    settings = _settings()
    if settings.jwt_secret is None and not allow_open and not _is_loopback(host):
        raise _fail(f"refusing to bind {host} without STOREFRONT_JWT_SECRET (open development mode); "
                    "set the secret or pass --allow-open")
    uvicorn.run(create_app(settings, run_worker=not no_sync), host=host, port=port,
                log_level=settings.log_level.lower(), lifespan="on")


@app.command()
def sync() -> None:
    """Run the sync worker alone until SIGTERM or Ctrl-C."""
    settings = _settings()

    async def run() -> None:
        container = build(settings, local_worker=False)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, container.worker.stop)
        try:
            await migrate_schema(container)
            await container.worker.run()
        finally:
            await container.close()

    _run(run)


@app.command()
def migrate() -> None:
    """Create or upgrade the write-model schema, then exit."""
    settings = _settings()

    async def run() -> None:
        container = build(settings, local_worker=False)
        try:
            await migrate_schema(container)
        finally:
            await container.close()

    _run(run)
    typer.echo("write model is up to date")


PortOption = Annotated[int, typer.Option(help="HTTP port of the node.", min=1, max=65535)]


@elasticsearch_app.command("start")
def elasticsearch_start(port: PortOption = 9200) -> None:
    """Fetch the jars if needed, start the node and wait until it answers."""
    try:
        typer.echo(dev_elasticsearch.start(PROJECT_ROOT, port))
    except dev_elasticsearch.DevNodeError as error:
        raise _fail(str(error)) from None


@elasticsearch_app.command("stop")
def elasticsearch_stop() -> None:
    """Stop the node if it runs."""
    typer.echo("stopped" if dev_elasticsearch.stop(PROJECT_ROOT) else "not running")


@elasticsearch_app.command("status")
def elasticsearch_status(port: PortOption = 9200) -> None:
    """Say whether the node runs; exit 1 if it does not."""
    url = dev_elasticsearch.status(PROJECT_ROOT, port)
    if url is None:
        typer.echo("not running")
        raise typer.Exit(code=1)
    typer.echo(f"running at {url}")
