"""The demo storefront at /demo: a page of plain ES modules (server/demo/) showing a frontend
developer search with facets, read-your-writes, live updates and resuming after a drop.

Its one library, graphql-ws's browser build, is installed by `scripts/setup` from
server/demo/package.json and served from here like GraphiQL's files, so the page needs no
network beyond this server.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

DEMO_ROUTE = "/demo"
_SOURCES = Path(__file__).with_name("demo")
_CLIENT = _SOURCES / "node_modules" / "graphql-ws" / "dist"
_CLIENT_ROUTE = "vendor/graphql-ws"
# Everything from this server only: no inline script, no other origin. `connect-src 'self'`
# covers the page's own ws:// and wss:// (CSP Level 3).
_HEADERS = {
    "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}


class DemoPage:
    """The page, its modules and stylesheet, and the graphql-ws files its client imports."""

    def __init__(self, *, auth_enabled: bool) -> None:
        # The page asks for a token when the server wants one, else it registers a demo customer.
        self._page = (_SOURCES / "index.html").read_text().replace("{{auth}}", "token" if auth_enabled else "open")
        self._files = {path.name: path for suffix in _MEDIA_TYPES for path in _SOURCES.glob(f"*{suffix}")}
        self._files |= {f"{_CLIENT_ROUTE}/{path.name}": path for path in _CLIENT.glob("*.js")}
        if f"{_CLIENT_ROUTE}/client.js" not in self._files:
            log.warning("graphql-ws's browser files missing (%s): run scripts/setup; until then the demo at %s "
                        "does not load", _CLIENT, DEMO_ROUTE)

    def routes(self) -> list[Route]:
        return [Route(DEMO_ROUTE, self.page), Route(f"{DEMO_ROUTE}/{{name:path}}", self.asset)]

    async def page(self, _request: Request) -> Response:
        return HTMLResponse(self._page, headers={**_HEADERS, "cache-control": "no-cache"})

    async def asset(self, request: Request) -> Response:
        """Only the files above, never anything else of the folder (package.json, node_modules)."""
        path = self._files.get(request.path_params["name"])
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix],
                            headers={**_HEADERS, "cache-control": "no-cache"})
