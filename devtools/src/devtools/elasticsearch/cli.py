"""``storefront elasticsearch start|stop|status``: the product's CLI adds this group through the
``storefront.cli`` entry point. The project is the one around the current directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from devtools.elasticsearch import node
from devtools.project import Project, ProjectNotFound

app = typer.Typer(help="A development Elasticsearch node built from Maven Central jars.",
                  no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)

PortOption = Annotated[int, typer.Option(help="HTTP port of the node.", metavar="PORT", min=1, max=65535)]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _project() -> Project:
    try:
        return Project.find(Path.cwd())
    except ProjectNotFound as error:
        raise _fail(str(error)) from None


@app.command("start")
def start(port: PortOption = 9200) -> None:
    """Fetch the jars if needed, start the node and wait until it answers; print its URL."""
    try:
        typer.echo(node.start(_project(), port))
    except node.DevNodeError as error:
        raise _fail(str(error)) from None


@app.command("stop")
def stop() -> None:
    """Stop the node if it runs."""
    typer.echo("stopped" if node.stop(_project()) else "not running")


@app.command("status")
def status(
    port: PortOption = 9200,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print [{name, url, pid}] (an empty list when it does not run).")] = False,
) -> None:
    """Say whether the node runs; exit 1 if it does not."""
    running = node.status(_project(), port)
    if as_json:
        typer.echo(json.dumps([] if running is None else [dataclasses.asdict(running)]))
    else:
        typer.echo("not running" if running is None else f"running at {running.url}")
    if running is None:
        raise typer.Exit(code=1)
