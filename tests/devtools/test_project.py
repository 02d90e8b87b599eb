"""Finding the project of the dev services from a folder inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.project import Project, ProjectNotFound

ROOT = Path(__file__).resolve().parents[2]


def test_this_repository_is_found_from_inside_the_devtools_distribution() -> None:
    """devtools/ has a pyproject.toml of its own; it is not the project, the repository is."""
    project = Project.find(ROOT / "devtools" / "src" / "devtools")
    assert project == Project(ROOT, ROOT / ".devtools")


def test_the_nearest_folder_with_the_table_wins_and_names_its_data_dir(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.storefront-devtools]\ndata-dir = "state"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert Project.find(nested) == Project(tmp_path, tmp_path / "state")


def test_a_folder_outside_any_project_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("not toml [")
    with pytest.raises(ProjectNotFound, match=r"no pyproject.toml with a \[tool.storefront-devtools\] table"):
        Project.find(tmp_path)
