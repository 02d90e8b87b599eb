"""``storefront cluster up|down|status|restart``: the product's CLI adds this group through the
``storefront.cli`` entry point. The project is the one around the current directory."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from devtools.cluster import topology
from devtools.commands import current_project, fail

app = typer.Typer(help="The whole topology on this machine: write model, Elasticsearch cluster, API processes, "
                       "workers and HAProxy in front.",
                  no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)

DEFAULTS = topology.Plan()


@app.command("up")
def up(
    api: Annotated[int, typer.Option("--api", metavar="N", min=1, max=32,
                                     help="API processes (storefront serve --no-sync).")] = DEFAULTS.api,
    workers: Annotated[int, typer.Option("--workers", metavar="M", min=1, max=32,
                                         help="Sync workers (storefront sync; one works, the others stand by).")
                       ] = DEFAULTS.workers,
    es_nodes: Annotated[int, typer.Option("--es-nodes", metavar="K", min=1, max=9,
                                          help=f"Elasticsearch nodes (HTTP from port {topology.ES_PORT}).")
                        ] = DEFAULTS.es_nodes,
    database: Annotated[str, typer.Option("--database", metavar="sqlite|postgres",
                                          help="The write model: a SQLite file, or the dev PostgreSQL.")
                        ] = DEFAULTS.database,
    port: Annotated[int, typer.Option("--port", metavar="P", min=1024, max=65535,
                                      help="HAProxy's port; the API processes, then the workers' metrics, "
                                           "listen on the ports after it.")
                    ] = DEFAULTS.port,
) -> None:
    """Start everything and wait until HAProxy has every API process in rotation; print the
    processes, then the front URL last."""
    plan = topology.Plan(api=api, workers=workers, es_nodes=es_nodes, database=database, port=port)
    project = current_project()
    try:
        url = topology.up(project, plan, progress=lambda line: typer.echo(line, err=True))
    except topology.ClusterError as error:
        raise fail(str(error)) from None
    for member in topology.status(project):
        typer.echo(_line(member))
    typer.echo(url)


@app.command("down")
def down(
    purge: Annotated[bool, typer.Option(
        "--purge", help="Also delete the cluster's data (SQLite file, Elasticsearch data, PostgreSQL database).")
                     ] = False,
) -> None:
    """Stop everything `up` started (the dev PostgreSQL only if `up` started it)."""
    try:
        stopped = topology.down(current_project(), purge=purge)
    except topology.ClusterError as error:
        raise fail(str(error)) from None
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "not running")


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print [{role, name, url, pid}] (pid null for a process that does not run).")] = False,
) -> None:
    """List the cluster's processes; exit 1 if no cluster is up, 2 if one of its processes does not run."""
    try:
        members = topology.status(current_project())
    except topology.ClusterError as error:
        raise fail(str(error)) from None
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(member) for member in members]))
    else:
        for member in members:
            typer.echo(_line(member))
        if not members:
            typer.echo("not running")
    if not members:
        raise typer.Exit(code=1)
    if any(member.pid is None for member in members):
        raise typer.Exit(code=2)


@app.command("restart")
def restart(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A process `status` lists, e.g. api-2 or worker-1.")],
) -> None:
    """Start one process again (stopping it first if it runs) and wait until it is back in service."""
    try:
        member = topology.restart(current_project(), name)
    except topology.ClusterError as error:
        raise fail(str(error)) from None
    typer.echo(_line(member))


@app.command("kill")
def kill(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A process `status` lists, e.g. api-2 or dev-1.")],
) -> None:
    """SIGKILL one process, as a crash would end it (`restart NAME` brings it back)."""
    try:
        member = topology.kill(current_project(), name)
    except topology.ClusterError as error:
        raise fail(str(error)) from None
    typer.echo(f"killed {member.name} (pid {member.pid})")


def _line(member: topology.Member) -> str:
    return "\t".join([member.role, member.name, member.url or "-",
                      "not running" if member.pid is None else f"pid {member.pid}"])
