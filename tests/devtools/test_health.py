"""The one Elasticsearch probe against the real node, a closed port and a server that is not Elasticsearch."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from devtools.health import answers, cluster_health
from tests.support import unused_port


@pytest.fixture
def not_elasticsearch() -> Iterator[str]:
    """A real HTTP server on loopback that answers every path with a JSON body of its own."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"hello": "world"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        thread.join()


def test_the_node_answers_with_its_cluster_name_and_a_ready_status(es_url: str) -> None:
    health = cluster_health(es_url + "/")
    assert health is not None and health.ready and health.cluster_name != ""
    assert answers(es_url)


def test_a_closed_port_does_not_answer() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    assert cluster_health(url) is None
    assert not answers(url)


def test_an_http_server_that_is_not_elasticsearch_does_not_answer(not_elasticsearch: str) -> None:
    assert cluster_health(not_elasticsearch) is None
    assert not answers(not_elasticsearch)
