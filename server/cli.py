"""The `storefront` command line (see OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Annotated, TypeVar
from wsgiref.simple_server import WSGIServer

import typer
import uvicorn
from elasticsearch import ApiError, TransportError
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from read_model.indices import BY_NAME, FROM_STATE, IndexDefinition
from server.app import WORKER_GRACE_S, create_app
from server.bootstrap import Container, SettingError, build
from server.bootstrap import migrate as migrate_schema
from server.logs import configure_logging, describe
from server.progress import progress_reporter
from server.settings import Settings
from sync.errors import ReindexError, RepairError
from sync.reindex import Reindexer
from sync.verify import REPAIR_BATCH, Finding
from sync.worker import SyncWorker
from write_model.database import join_connection_threads


def _commands(help_text: str) -> typer.Typer:
    """A group of commands. Help is click's plain text: typer 0.28+'s rich panel prints a type even
    beside flags (`--no-sync <bool>`), as if they took a value; the plain one leaves flags bare."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)


def _add_plugin_groups(cli: typer.Typer) -> None:
    """Adds the command groups that installed distributions declare under the `storefront.cli`
    entry point (the dev tooling's `elasticsearch`), so the product never imports them by name."""
    for entry in entry_points(group="storefront.cli"):
        try:
            group = entry.load()
        except ImportError as error:  # a stale install must not break the product's commands
            typer.echo(f"warning: `storefront {entry.name}` is unavailable: {error}", err=True)
            continue
        cli.add_typer(group, name=entry.name)


app = _commands("Storefront CQRS: GraphQL over a SQL write model and an Elasticsearch read model.")
dead_letters_app = _commands("Events the sync worker parked after Elasticsearch refused them.")
app.add_typer(dead_letters_app, name="dead-letters")
_add_plugin_groups(app)

T = TypeVar("T")
log = logging.getLogger(__name__)


def main() -> None:
    app()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _settings(*, one_shot: bool = True) -> Settings:
    """The settings, or one line per bad one naming its variable. `one_shot`: see configure_logging."""
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            variable = Settings.model_config.get("env_prefix", "") + "_".join(map(str, problem["loc"])).upper()
            # A validator's own ValueError comes as "Value error, <its message>".
            typer.echo(f"error: {variable}: {problem['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(code=1) from None
    configure_logging(settings.log_level, settings.log_format, one_shot=one_shot)
    return settings


def _run(operation: Callable[[], Awaitable[T]]) -> T:
    """Runs `operation`; a setting or store at fault ends the command with one line that names it."""
    try:
        return asyncio.run(operation())  # type: ignore[arg-type]
    except SettingError as error:
        raise _fail(str(error)) from None
    except TransportError as error:  # no answer at all: refused, timed out, TLS
        raise _fail(f"Elasticsearch does not answer ({error.message}); check STOREFRONT_ELASTICSEARCH_URL "
                    "and that the node runs") from None
    except ApiError as error:
        raise _fail(f"Elasticsearch refused a request ({error}); check STOREFRONT_ELASTICSEARCH_URL") from None
    except OSError as error:
        raise _fail(f"the database does not answer ({describe(error)}); check STOREFRONT_DATABASE_URL "
                    "and that the database runs") from None
    except SQLAlchemyError as error:
        raise _fail(f"the database failed ({describe(error)}); check STOREFRONT_DATABASE_URL, and run "
                    "`storefront migrate` if tables are missing") from None
    except ReindexError as error:
        raise _fail(f"rebuild abandoned, the alias still serves the old index: {error}") from None
    except RepairError as error:
        raise _fail(f"repair incomplete: {error}") from None


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (socket.gaierror, ValueError):
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.", metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", metavar="PORT", min=1, max=65535)] = 8000,
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Do not run the sync worker in this process.")] = False,
    allow_open: Annotated[bool, typer.Option(
        "--allow-open", help="Bind a non-loopback host in open development mode (no JWT key source).")] = False,
) -> None:
    """Serve the GraphQL API (with the sync worker unless --no-sync)."""
    settings = _settings(one_shot=False)
    if not settings.auth_enabled and not allow_open and not _is_loopback(host):
        raise _fail(f"refusing to bind {host} without STOREFRONT_JWT_SECRET, STOREFRONT_JWT_JWKS_URL or "
                    "STOREFRONT_JWT_PUBLIC_KEY (open development mode); set one or pass --allow-open")
    # Here a wrong database URL or path is one line; in the lifespan it would be a failed start's traceback.
    _in_container(settings, migrate_schema)
    # No per-message compression: its state cost ~100 KB per WebSocket (bench B8), and
    # notifications are small.
    served = create_app(settings, run_worker=not no_sync)
    # What exists now (modules, the schema, the container) lives as long as the process: kept out
    # of the collector's walks, which took about a tenth of the API's CPU under load (bench W1).
    gc.freeze()
    uvicorn.run(served, host=host, port=port,
                log_level=settings.log_level.lower(), lifespan="on", ws_per_message_deflate=False)


@app.command()
def sync(
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve the worker's Prometheus metrics on this port.", metavar="PORT", min=1, max=65535)] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics bind.", metavar="HOST")] = "127.0.0.1",
) -> None:
    """Run the sync worker alone until SIGTERM or Ctrl-C (several may run: one works at a time).
    While it holds the lease it also runs the sampled drift check."""
    settings = _settings(one_shot=False)

    async def run(container: Container) -> None:
        await migrate_schema(container)
        metrics_server = None if metrics_port is None else _serve_metrics(container, metrics_host, metrics_port)
        task = asyncio.create_task(container.worker.run())
        drift_check = asyncio.create_task(container.drift_check.run()) if settings.drift_check_interval_s > 0 else None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stop_within_grace, container.worker, task)
        try:
            await asyncio.wait([task])
        finally:
            if drift_check is not None:
                drift_check.cancel()
                await asyncio.wait([drift_check])
            if metrics_server is not None:
                metrics_server.shutdown()
        if task.cancelled():
            log.warning("sync worker did not stop within %ss; cancelled", WORKER_GRACE_S)
        else:
            task.result()

    _in_container(settings, run)


def _serve_metrics(container: Container, host: str, port: int) -> WSGIServer:
    try:
        server, _thread = start_http_server(port, host, container.registry)
    except OSError as error:  # not the database's fault, which _run would say
        raise _fail(f"cannot serve metrics on {host}:{port} ({error.strerror}); choose another --metrics-port"
                    ) from None
    return server


def _stop_within_grace(worker: SyncWorker, task: asyncio.Task[None]) -> None:
    """Let the worker finish its batch, but cancel it if that takes longer than the grace (while
    Elasticsearch is away it would otherwise retry on and never see the signal)."""
    worker.stop()
    asyncio.get_running_loop().call_later(WORKER_GRACE_S, task.cancel)


@app.command()
def migrate() -> None:
    """Create or upgrade the write-model schema, then exit."""
    _run_with_container(migrate_schema)
    typer.echo("write model is up to date")


_FROM_STATE = [definition.name for definition in FROM_STATE]


@app.command()
def reindex(
    index: Annotated[list[str] | None, typer.Option(
        "--index", metavar="NAME",
        help=f"Index to rebuild (repeat for several): {', '.join(_FROM_STATE)}. Default: all.")] = None,
) -> None:
    """Rebuild read indices from the write model with zero downtime."""
    names = index or _FROM_STATE
    from_log = [name for name in names if name in BY_NAME and name not in _FROM_STATE]
    if from_log:
        raise _fail(f"{', '.join(from_log)} is built from the event log, not from the write model's state; "
                    "rebuild it with `storefront replay`")
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise _fail(f"unknown index {', '.join(unknown)}; choose from {', '.join(_FROM_STATE)}")

    async def run(container: Container) -> None:
        reindexer = _reindexer(container, "reindex")
        with progress_reporter() as report:
            for name in names:
                new_index = await reindexer.reindex(BY_NAME[name], report)
                typer.echo(f"{name}: now served from {new_index}")

    _run_with_container(run)


def _reindexer(container: Container, command: str) -> Reindexer:
    settings = container.settings
    lease = container.tracking.lease(f"{command}:{os.getpid()}", timedelta(seconds=settings.sync_lease_ttl_s))
    return Reindexer(container.database, container.outbox, container.elasticsearch, settings.index_prefix,
                     settings.currency, lease, settings.index_layout)


def _known_indices(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise _fail(f"unknown index {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    return names


@app.command()
def replay(
    index: Annotated[list[str] | None, typer.Option(
        "--index", metavar="NAME",
        help=f"Index to rebuild (repeat for several): {', '.join(BY_NAME)}. Default: all.")] = None,
) -> None:
    """Rebuild read indices by folding the event log through the worker's projections, with zero downtime."""
    names = _known_indices(index or list(BY_NAME))

    async def run(container: Container) -> None:
        reindexer = _reindexer(container, "replay")
        with progress_reporter(unit="events") as report:
            for name in names:
                new_index = await reindexer.replay(BY_NAME[name], report)
                typer.echo(f"{name}: now served from {new_index}")

    _run_with_container(run)


@app.command()
def verify(
    index: Annotated[list[str] | None, typer.Option(
        "--index", metavar="NAME",
        help=f"Index to check (repeat for several): {', '.join(BY_NAME)}. Default: all.")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="Re-index the drifted documents, delete extra ones.")
                      ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per drifted document.")] = False,
) -> None:
    """Compare read indices with the write model, one line per drifted document. Exit 1 when
    drift remains (with --repair: none does once repaired)."""
    names = _known_indices(index or list(BY_NAME))

    async def run(container: Container) -> int:
        drifted = 0
        for name in names:
            drifted += await _verify_index(container, BY_NAME[name], repair=repair, as_json=as_json)
        if not as_json:
            typer.echo(f"{drifted} documents drifted" + (", repaired" if repair and drifted else "")
                       if drifted else "no drift")
        return drifted

    if _run_with_container(run) and not repair:
        raise typer.Exit(code=1)


async def _verify_index(container: Container, definition: IndexDefinition, *, repair: bool, as_json: bool) -> int:
    """Report (and repair) the drift of one index, a batch at a time; returns how many documents drifted."""
    drifted = 0
    batch: list[Finding] = []
    async for finding in container.verifier.verify(definition):
        drifted += 1
        typer.echo(json.dumps({**finding.drift.as_json(), "repaired": repair}) if as_json
                   else finding.drift.describe())
        if not repair:
            continue
        batch.append(finding)
        if len(batch) == REPAIR_BATCH:
            await container.verifier.repair(definition, batch)
            batch = []
    if repair:
        await container.verifier.repair(definition, batch)
    return drifted


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
    letter_id: Annotated[int | None, typer.Argument(help="Dead letter to retry (see `list`).", metavar="ID")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead letter.")] = False,
) -> None:
    """Index parked events again; those that succeed are removed. Exit 1 if any still fails,
    2 if the ID names no dead letter; with none parked, --all has nothing to do and succeeds."""
    if (letter_id is None) == (not retry_all):
        raise _fail("name one dead letter ID or pass --all", code=2)

    async def run(container: Container) -> bool:
        outcomes = await container.redelivery.retry(None if retry_all else [letter_id or 0])
        if not outcomes and letter_id is not None:
            raise _fail(f"no dead letter {letter_id}; `storefront dead-letters list` shows them", code=2)
        if not outcomes:
            typer.echo("no dead letters to retry")
        for letter, error in outcomes:
            typer.echo(f"{letter.id}: " + ("indexed" if error is None else f"still refused: {error}"))
        return all(error is None for _, error in outcomes)

    if not _run_with_container(run):
        raise typer.Exit(code=1)


def _run_with_container(operation: Callable[[Container], Awaitable[T]]) -> T:
    return _in_container(_settings(), operation)


def _in_container(settings: Settings, operation: Callable[[Container], Awaitable[T]]) -> T:
    async def run() -> T:
        container = build(settings, local_worker=False)
        try:
            return await operation(container)
        finally:
            await container.close()
            await join_connection_threads()

    return _run(run)

