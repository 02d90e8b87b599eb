"""A real browser for the pages the server serves: Debian's Chromium (installed by scripts/setup),
driven by Playwright without its browser download (tests/browser/pages.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser.catalog import add_catalog
from tests.browser.pages import CHROMIUM, open_page
from tests.support import Api, LiveServer


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    async with open_page(browser, live_server.url, request) as page:
        yield page


@pytest.fixture
async def catalog(api: Api) -> dict[str, str]:
    """The products of tests/browser/catalog.py in the live server, searchable; their ids by SKU."""
    return await add_catalog(api)
