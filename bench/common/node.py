"""The Elasticsearch node the suite runs against: the dev node if it runs, else one started here."""

from __future__ import annotations

import os
from pathlib import Path

from devtools.elasticsearch import node as dev_elasticsearch
from devtools.health import answers
from devtools.project import Project

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "http://127.0.0.1:9200"


def ensure_node() -> tuple[str, bool]:
    """The node's URL, and whether this call started it (so the caller stops it again)."""
    url = os.environ.get("STOREFRONT_ELASTICSEARCH_URL", DEFAULT_URL)
    if answers(url):
        return url, False
    if url != DEFAULT_URL:
        raise RuntimeError(f"Elasticsearch at {url} does not answer")
    return dev_elasticsearch.urls(dev_elasticsearch.start(Project.find(PROJECT_ROOT), 9200)), True


def stop_node() -> None:
    dev_elasticsearch.stop(Project.find(PROJECT_ROOT))
