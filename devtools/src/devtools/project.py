"""The project the dev services belong to, and the folder where they keep their state."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

TABLE = "storefront-devtools"  # [tool.storefront-devtools] in the project's pyproject.toml


class ProjectNotFound(Exception):
    """No pyproject.toml with a [tool.storefront-devtools] table in the folder or its parents."""


@dataclass(frozen=True)
class Project:
    root: Path
    data_dir: Path  # git-ignored: jars, data, logs and pid files of the dev services

    @classmethod
    def find(cls, start: Path) -> Project:
        """The nearest of ``start`` and its parents whose pyproject.toml has the devtools table,
        as pytest finds its rootdir: a subfolder (devtools/ has a pyproject.toml of its own)
        still means the same project, and so the same running services."""
        for folder in (start.resolve(), *start.resolve().parents):
            table = _devtools_table(folder / "pyproject.toml")
            if table is not None:
                return cls(folder, folder / str(table.get("data-dir", ".devtools")))
        raise ProjectNotFound(
            f"no pyproject.toml with a [tool.{TABLE}] table in {start} or its parents:"
            " run this from the storefront project"
        )


def _devtools_table(pyproject: Path) -> dict[str, object] | None:
    try:
        with pyproject.open("rb") as file:
            tool = tomllib.load(file).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    table = tool.get(TABLE) if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else None
