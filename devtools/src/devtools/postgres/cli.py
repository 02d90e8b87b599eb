"""``storefront postgres start|stop|status``: the product's CLI adds this group through the
``storefront.cli`` entry point. The project is the one around the current directory."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from devtools.commands import current_project, fail
from devtools.postgres import cluster

app = typer.Typer(help="A development PostgreSQL cluster from the system's server binaries.",
                  no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)

PortOption = Annotated[int, typer.Option(help="TCP port of the server (on 127.0.0.1).", metavar="PORT",
                                         min=1, max=65535)]


@app.command("start")
def start(port: PortOption = cluster.DEFAULT_PORT) -> None:
    """Create the cluster if needed, start it and wait until it accepts connections; print its URL."""
    try:
        typer.echo(cluster.start(current_project(), port))
    except cluster.DevPostgresError as error:
        raise fail(str(error)) from None


@app.command("stop")
def stop() -> None:
    """Stop the server if it runs."""
    try:
        typer.echo("stopped" if cluster.stop(current_project()) else "not running")
    except cluster.DevPostgresError as error:
        raise fail(str(error)) from None


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print {url, pid} (null when it does not run).")] = False,
) -> None:
    """Say whether the server runs; exit 1 if it does not."""
    running = cluster.status(current_project())
    if as_json:
        typer.echo(json.dumps(None if running is None else dataclasses.asdict(running)))
    else:
        typer.echo("not running" if running is None else f"running at {running.url}")
    if running is None:
        raise typer.Exit(code=1)
