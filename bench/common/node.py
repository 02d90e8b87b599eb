"""The Elasticsearch node the suite runs against: the dev node if it runs, else one started here."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from server import dev_elasticsearch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "http://127.0.0.1:9200"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as response:
            return bool(json.load(response)["status"] in ("green", "yellow"))
    except OSError:
        return False


def ensure_node() -> tuple[str, bool]:
    """The node's URL, and whether this call started it (so the caller stops it again)."""
    url = os.environ.get("STOREFRONT_ELASTICSEARCH_URL", DEFAULT_URL)
    if answers(url):
        return url, False
    if url != DEFAULT_URL:
        raise RuntimeError(f"Elasticsearch at {url} does not answer")
    return dev_elasticsearch.start(PROJECT_ROOT, 9200), True


def stop_node() -> None:
    dev_elasticsearch.stop(PROJECT_ROOT)
