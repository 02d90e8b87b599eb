"""GraphiQL served from this server, so exploring the API works offline.

Strawberry's GraphiQL page loads its scripts and styles from a CDN. `scripts/setup`
installs the very same files (server/graphiql/package.json pins strawberry's versions, so
the page's integrity hashes still match); the page is rewritten to load them from here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

log = logging.getLogger(__name__)

ASSETS_ROUTE = "/graphiql-assets"
_NODE_MODULES = Path(__file__).with_name("graphiql") / "node_modules"
_CDN_FILE = re.compile(r"https://unpkg\.com/(?P<package>@?[^@\"]+)@[^/\"]+/(?P<file>[^\"]+)")


class OfflineGraphiQL:
    def __init__(self, page: str) -> None:
        self._files = {f"{m['package']}/{m['file']}": _NODE_MODULES / m["package"] / m["file"]
                       for m in _CDN_FILE.finditer(page)}
        missing = [name for name, path in self._files.items() if not path.is_file()]
        if missing:
            log.warning("GraphiQL files missing (%s): run scripts/setup; until then GraphiQL loads them from "
                        "the internet", ", ".join(missing))
            self.page = page
        else:
            self.page = _CDN_FILE.sub(lambda m: f"{ASSETS_ROUTE}/{m['package']}/{m['file']}", page)

    async def asset(self, request: Request) -> Response:
        """Only the files the page refers to, nothing else from node_modules."""
        path = self._files.get(request.path_params["name"])
        if path is None or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, headers={"cache-control": "public, max-age=86400"})
