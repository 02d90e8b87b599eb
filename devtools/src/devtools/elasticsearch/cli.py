"""``storefront elasticsearch start|stop|status``: the product's CLI adds this group through the
``storefront.cli`` entry point. The project is the one around the current directory."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from devtools.commands import current_project, fail
from devtools.elasticsearch import node

app = typer.Typer(help="A development Elasticsearch node, or a cluster of several, built from Maven Central jars.",
                  no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)

PortOption = Annotated[int, typer.Option(
    help="HTTP port of the (first) node; node i of a cluster listens on PORT+i.", metavar="PORT", min=1, max=65535)]


@app.command("start")
def start(
    port: PortOption = 9200,
    nodes: Annotated[int, typer.Option(
        help="Nodes of one cluster (transport ports PORT+100+i).", min=1, max=node.MAX_NODES)] = 1,
    heap_mb: Annotated[int | None, typer.Option(
        help="Heap of each node in MB [default: 1024 for one node, 512 each in a cluster].", min=256)] = None,
) -> None:
    """Fetch the jars if needed, start the nodes and wait until the cluster is ready (green for
    several nodes); print the URLs, comma-separated as STOREFRONT_ELASTICSEARCH_URL takes them."""
    try:
        typer.echo(node.urls(node.start(current_project(), port, nodes=nodes, heap_mb=heap_mb)))
    except node.DevNodeError as error:
        raise fail(str(error)) from None


@app.command("stop")
def stop() -> None:
    """Stop every node if one runs."""
    typer.echo("stopped" if node.stop(current_project()) else "not running")


@app.command("status")
def status(
    port: PortOption = 9200,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print [{name, url, pid}] (an empty list when none runs).")] = False,
) -> None:
    """Say which nodes run; exit 1 if none does."""
    running = node.status(current_project(), port)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(each) for each in running]))
    else:
        typer.echo(f"running at {node.urls(running)}" if running else "not running")
    if not running:
        raise typer.Exit(code=1)
