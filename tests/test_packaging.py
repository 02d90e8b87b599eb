"""The product wheel holds the product only; the dev tooling is a distribution of its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = {"schema", "write_model", "read_model", "sync", "server"}
# Generated folders: a stale build/ would leak removed files into the wheel, and builds in the
# shared tree would collide, so each test builds from a copy of the sources alone.
_NOT_SOURCES = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "node_modules", "bench-results",
                                     "storefront.db*")


def _wheel_files(source: Path, tmp: Path) -> dict[str, bytes]:
    """Builds the wheel of the distribution at `source` as `pip wheel` does; its files by name."""
    copy = shutil.copytree(source, tmp / "source", ignore=_NOT_SOURCES)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(copy), "--no-deps", "--quiet", "-w", str(tmp / "wheel")],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _packages(files: dict[str, bytes]) -> set[str]:
    return {name.split("/")[0] for name in files if not name.split("/")[0].endswith(".dist-info")}


def _entry_points(files: dict[str, bytes]) -> str:
    return next((data.decode() for name, data in files.items() if name.endswith(".dist-info/entry_points.txt")), "")


def test_the_product_wheel_has_neither_the_dev_tooling_nor_the_dev_node(tmp_path: Path) -> None:
    files = _wheel_files(ROOT, tmp_path)
    assert _packages(files) == PRODUCT_PACKAGES
    assert "server/cli.py" in files
    demo = {"server/demo/index.html", "server/demo/storefront.js", "server/demo/api.js", "server/demo/operations.js",
            "server/demo/storefront.css", "server/demo/package.json", "server/demo/package-lock.json"}
    assert demo <= files.keys()  # its graphql-ws comes from npm, like GraphiQL's files
    dev_files = [name for name in files if "dev_elasticsearch" in name or name.endswith((".java", "pom.xml"))]
    assert dev_files == []
    assert "storefront.cli" not in _entry_points(files)


def test_the_devtools_wheel_carries_its_maven_project_and_its_command_group(tmp_path: Path) -> None:
    files = _wheel_files(ROOT / "devtools", tmp_path)
    assert _packages(files) == {"devtools"}
    resources = {"devtools/py.typed", "devtools/elasticsearch/pom.xml", "devtools/elasticsearch/log4j2.properties",
                 "devtools/elasticsearch/java/org/elasticsearch/node/DevNode.java", "devtools/cluster/haproxy.cfg"}
    assert resources <= files.keys()
    assert ("[storefront.cli]\ncluster = devtools.cluster.cli:app\nelasticsearch = devtools.elasticsearch.cli:app\n"
            "postgres = devtools.postgres.cli:app") in _entry_points(files)
    assert {"devtools/postgres/cluster.py", "devtools/postgres/cli.py", "devtools/cluster/cli.py"} <= files.keys()
