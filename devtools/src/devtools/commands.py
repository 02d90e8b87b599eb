"""What every `storefront <tool> ...` command group of the dev tooling shares: the project around
the current directory, and failing with one line on stderr."""

from __future__ import annotations

from pathlib import Path

import typer

from devtools.project import Project, ProjectNotFound


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def current_project() -> Project:
    try:
        return Project.find(Path.cwd())
    except ProjectNotFound as error:
        raise fail(str(error)) from None
