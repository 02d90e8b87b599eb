"""The `storefront` command line (see OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
import ipaddress
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from elasticsearch import TransportError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from server import dev_elasticsearch
from server.app import create_app
from read_model.indices import BY_NAME
from server.bootstrap import Container, build, migrate as migrate_schema
from server.logs import configure_logging
from server.progress import progress_reporter
from server.settings import Settings
from sync.reindex import Reindexer, ReindexError
from sync.worker import CONSUMER
from write_model.consumers import Lease

app = typer.Typer(help="Storefront CQRS: GraphQL over a SQL write model and an Elasticsearch read model.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
dead_letters_app = typer.Typer(help="Events the sync worker parked after Elasticsearch refused them.",
                                no_args_is_help=True)
app.add_typer(dead_letters_app, name="dead-letters")
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
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _run(operation: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(operation())  # type: ignore[arg-type]
    except (OSError, SQLAlchemyError, TransportError) as error:
        reason = str(error).splitlines()[0]
        raise _fail(f"{reason}; check STOREFRONT_DATABASE_URL and STOREFRONT_ELASTICSEARCH_URL") from None
    except ReindexError as error:
        raise _fail(f"reindex abandoned, the alias still serves the old index: {error}") from None


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
    # No per-message compression: its state cost ~100 KB per WebSocket (bench B8), and
    # notifications are small.
    uvicorn.run(create_app(settings, run_worker=not no_sync), host=host, port=port,
                log_level=settings.log_level.lower(), lifespan="on", ws_per_message_deflate=False)


@app.command()
def sync() -> None:
    """Run the sync worker alone until SIGTERM or Ctrl-C (several may run: one works at a time)."""

    async def run(container: Container) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, container.worker.stop)
        await migrate_schema(container)
        await container.worker.run()

    _run_with_container(run)


@app.command()
def migrate() -> None:
    """Create or upgrade the write-model schema, then exit."""
    _run_with_container(migrate_schema)
    typer.echo("write model is up to date")


@app.command()
def reindex(
    index: Annotated[list[str] | None, typer.Option(
        "--index", help=f"Index to rebuild (repeat for several): {', '.join(BY_NAME)}. Default: all.")] = None,
) -> None:
    """Rebuild read indices from the write model with zero downtime."""
    names = index or list(BY_NAME)
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise _fail(f"unknown index {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")

    async def run(container: Container) -> None:
        settings = container.settings
        lease = Lease(container.database, CONSUMER, f"reindex:{os.getpid()}",
                      timedelta(seconds=settings.sync_lease_ttl_s))
        reindexer = Reindexer(container.database, container.outbox, container.elasticsearch,
                              settings.index_prefix, settings.currency, lease)
        with progress_reporter() as report:
            for name in names:
                new_index = await reindexer.reindex(BY_NAME[name], report)
                typer.echo(f"{name}: now served from {new_index}")

    _run_with_container(run)


@dead_letters_app.command("list")
def dead_letters_list() -> None:
    """List parked events, oldest first."""

    async def run(container: Container) -> None:
        letters = await container.dead_letters.list()
        for letter in letters:
            typer.echo(f"{letter.id}\tposition {letter.position}\t{letter.event_type}\t"
                       f"{letter.index_name}/{letter.document_id}\tattempts {letter.attempts}\t{letter.error}")
        typer.echo(f"{len(letters)} dead letters")

    _run_with_container(run)


@dead_letters_app.command("retry")
def dead_letters_retry(
    letter_id: Annotated[int | None, typer.Argument(help="Dead letter to retry (see `list`).")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead letter.")] = False,
) -> None:
    """Index parked events again; those that succeed are removed. Exit 1 if any still fails."""
    if (letter_id is None) == (not retry_all):
        raise _fail("name one dead letter ID or pass --all")

    async def run(container: Container) -> bool:
        outcomes = await container.worker.retry_parked(None if retry_all else [letter_id or 0])
        if not outcomes:
            raise _fail(f"no dead letter {letter_id}" if letter_id is not None else "no dead letters")
        for letter, error in outcomes:
            typer.echo(f"{letter.id}: " + ("indexed" if error is None else f"still refused: {error}"))
        return all(error is None for _, error in outcomes)

    if not _run_with_container(run):
        raise typer.Exit(code=1)


def _run_with_container(operation: Callable[[Container], Awaitable[T]]) -> T:
    settings = _settings()

    async def run() -> T:
        container = build(settings, local_worker=False)
        try:
            return await operation(container)
        finally:
            await container.close()

    return _run(run)


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
