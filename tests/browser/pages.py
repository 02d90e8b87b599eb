"""Pages in a real browser that reach the server under test and nothing else, each leaving a
screenshot under artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, WebSocketRoute, expect

from tests.support import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
# Generous for a loaded 2-core CI machine; every wait ends as soon as its condition holds.
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class ServerOnly:
    """Routes every request and WebSocket of a page: those to the server go through, any other
    is refused and kept in `refused`, which must stay empty."""

    server: str  # host:port of the server under test
    refused: list[str] = field(default_factory=list)

    def foreign(self, url: str) -> bool:
        return urlsplit(url).netloc != self.server

    async def request(self, route: Route) -> None:
        if self.foreign(route.request.url):
            self.refused.append(route.request.url)
            await route.abort("blockedbyclient")
        else:
            await route.continue_()

    async def socket(self, socket: WebSocketRoute) -> None:
        """Only foreign WebSockets come here; the server's are the browser's own, not routed."""
        self.refused.append(socket.url)
        await socket.close(code=1008, reason="the network is blocked")


@asynccontextmanager
async def open_page(browser: Browser, server_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a fresh context that reaches only `server_url`; its screenshot, named for the
    test, and the check that it reached nothing else on the way out."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    guard = ServerOnly(urlsplit(server_url).netloc)
    await context.route("**/*", guard.request)
    await context.route_web_socket(guard.foreign, guard.socket)
    page = await context.new_page()
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
        await context.close()
    assert guard.refused == [], f"the page reached for other hosts than the server: {guard.refused}"
