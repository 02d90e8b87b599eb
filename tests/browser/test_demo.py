"""The demo storefront at /demo in a real browser: search and facets, live stock, "Buy one",
catching up after a dropped WebSocket, the token prompt under auth, and turning it off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from pydantic import SecretStr

from server.settings import Settings
from tests.browser.catalog import CATALOG, add_catalog, adjust_stock
from tests.browser.pages import open_page
from tests.e2e.operations import REGISTER_CUSTOMER
from tests.support import SECRET, Api, LiveServer, running_server, token

ORDER = """query($id: ID!) { order(id: $id) { status customerId customerName lines { sku quantity } } }"""
# Each socket the page opens, so that a test can drop one as a network failure would.
RECORD_SOCKETS = """
  const NativeWebSocket = window.WebSocket;
  window.openedSockets = [];
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) { super(...args); window.openedSockets.push(this); }
  };
"""


def card(page: Page, product_id: str) -> Locator:
    return page.locator(f'[data-testid="product"][data-id="{product_id}"]')


async def open_demo(page: Page, server_url: str) -> None:
    await page.goto(f"{server_url}/demo")
    await expect(page.get_by_test_id("connection")).to_have_text("live")


async def test_the_demo_shows_the_results_and_a_facet_for_each_category(
    page: Page, live_server: LiveServer, catalog: dict[str, str]
) -> None:
    await open_demo(page, live_server.url)
    await expect(page.get_by_test_id("total")).to_have_text("5")
    await expect(page.get_by_test_id("token")).to_be_hidden()  # open mode: a demo customer buys
    await expect(page.get_by_test_id("product")).to_have_count(5)
    facets = page.get_by_test_id("facet")
    await expect(facets).to_have_count(2)
    assert {await facet.get_attribute("data-value") for facet in await facets.all()} == {"kitchen", "garden"}
    await expect(page.locator('[data-testid="facet"][data-value="kitchen"]')).to_have_text("kitchen (3)")
    for sku, product_id in catalog.items():
        await expect(card(page, product_id).get_by_test_id("stock")).to_have_text(str(CATALOG[sku][2]))


async def test_a_facet_narrows_the_results_and_the_search_box_narrows_them_further(
    page: Page, live_server: LiveServer, catalog: dict[str, str]
) -> None:
    await open_demo(page, live_server.url)
    await expect(page.get_by_test_id("product")).to_have_count(5)
    await page.locator('[data-testid="facet"][data-value="garden"]').click()
    await expect(page.get_by_test_id("total")).to_have_text("2")
    await expect(page.get_by_test_id("product")).to_have_count(2)
    shown = {await product.get_attribute("data-id") for product in await page.get_by_test_id("product").all()}
    assert shown == {catalog["HOSE-1"], catalog["RAKE-1"]}

    await page.locator('[data-testid="facet"][data-value="garden"]').click()  # off again
    await page.locator('[data-testid="facet"][data-value="kitchen"]').click()
    await page.get_by_test_id("search").fill("mug")
    await expect(page.get_by_test_id("total")).to_have_text("2")
    await expect(page.get_by_test_id("product")).to_have_count(2)
    await expect(card(page, catalog["POT-1"])).to_have_count(0)


async def test_a_change_made_elsewhere_shows_on_its_card_without_a_reload(
    page: Page, live_server: LiveServer, api: Api, catalog: dict[str, str]
) -> None:
    await open_demo(page, live_server.url)
    stock = card(page, catalog["HOSE-1"]).get_by_test_id("stock")
    await expect(stock).to_have_text("5")
    await page.evaluate("window.loadedOnce = true")  # gone if the page reloaded

    await adjust_stock(api, catalog["HOSE-1"], +7)
    await expect(stock).to_have_text("12")
    assert await page.evaluate("window.loadedOnce") is True


async def test_buy_one_places_an_order_for_the_demo_customer_and_shows_its_status(
    page: Page, live_server: LiveServer, api: Api, catalog: dict[str, str]
) -> None:
    await open_demo(page, live_server.url)
    mug = card(page, catalog["MUG-1"])
    status = page.get_by_test_id("order-status")

    await mug.get_by_test_id("buy").click()
    await expect(status).to_contain_text(": PLACED, 9.90 USD")
    first_order = (await status.text_content() or "").removeprefix("Order ").split(":")[0]
    order = (await api(ORDER, {"id": first_order}))["order"]
    assert order["status"] == "PLACED" and order["lines"] == [{"sku": "MUG-1", "quantity": 1}]
    assert order["customerName"] == "Demo shopper"
    await expect(mug.get_by_test_id("stock")).to_have_text("2")  # the reservation, live

    await mug.get_by_test_id("buy").click()  # the same customer, remembered
    await expect(status).not_to_contain_text(first_order)
    await expect(status).to_contain_text(": PLACED")
    second_order = (await status.text_content() or "").removeprefix("Order ").split(":")[0]
    assert (await api(ORDER, {"id": second_order}))["order"]["customerId"] == order["customerId"]
    await expect(mug.get_by_test_id("stock")).to_have_text("1")


async def test_changes_made_while_the_websocket_is_down_arrive_once_it_reconnects(
    page: Page, live_server: LiveServer, api: Api, catalog: dict[str, str]
) -> None:
    await page.add_init_script(RECORD_SOCKETS)
    await page.clock.install()
    await open_demo(page, live_server.url)
    stock = card(page, catalog["RAKE-1"]).get_by_test_id("stock")
    await adjust_stock(api, catalog["RAKE-1"], +1)
    await expect(stock).to_have_text("2")  # the page has a position to resume from

    # Time stands still in the page, so its reconnection waits until the change below is done.
    await page.clock.pause_at(await page.evaluate("Date.now()") + 1000)
    await page.evaluate("window.openedSockets.at(-1).close(4000, 'dropped by the test')")
    await expect(page.get_by_test_id("connection")).to_have_text("reconnecting")
    await adjust_stock(api, catalog["RAKE-1"], +5)
    await adjust_stock(api, catalog["MUG-2"], -1)
    await expect(stock).to_have_text("2")

    await page.clock.resume()
    await expect(page.get_by_test_id("connection")).to_have_text("live")
    await expect(stock).to_have_text("7")
    await expect(card(page, catalog["MUG-2"]).get_by_test_id("stock")).to_have_text("3")
    assert await page.evaluate("window.openedSockets.length") == 2


@pytest.fixture
async def secured_server(settings: Settings) -> AsyncIterator[str]:
    async with running_server(settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})) as (url, _app):
        yield url


async def test_under_a_jwt_secret_the_page_asks_for_a_token_and_buys_as_its_customer(
    browser: Browser, secured_server: str, request: pytest.FixtureRequest
) -> None:
    admin = {"authorization": f"Bearer {token('root', ['admin'])}"}
    async with httpx.AsyncClient(base_url=secured_server, timeout=60, headers=admin) as http:
        api = Api(http)
        catalog = await add_catalog(api)
        registered = {"input": {"email": "grace@example.com", "name": "Grace Hopper"}}
        customer = (await api(REGISTER_CUSTOMER, registered))["registerCustomer"]["id"]
        async with open_page(browser, secured_server, request) as page:
            await open_demo(page, secured_server)
            await expect(page.get_by_test_id("token")).to_be_visible()
            buy = card(page, catalog["POT-1"]).get_by_test_id("buy")
            await buy.click()
            await expect(page.get_by_test_id("order-status")).to_have_text("Enter a customer token to buy.")

            await page.get_by_test_id("token").fill(token(customer, ["customer"]))
            await buy.click()
            await expect(page.get_by_test_id("order-status")).to_contain_text(": PLACED")
            order_id = (await page.get_by_test_id("order-status").text_content() or "").split(":")[0][len("Order "):]
            assert (await api(ORDER, {"id": order_id}))["order"]["customerName"] == "Grace Hopper"


async def test_with_the_demo_turned_off_there_is_no_demo_page(
    browser: Browser, settings: Settings, request: pytest.FixtureRequest
) -> None:
    async with (running_server(settings.model_copy(update={"demo": False})) as (url, _app),
                open_page(browser, url, request) as page):
        for path in ("/demo", "/demo/storefront.js"):
            response = await page.goto(f"{url}{path}")
            assert response is not None and response.status == 404, path


async def test_the_demo_files_come_with_their_types_and_a_policy_of_this_server_only(api: Api) -> None:
    vendor = "/demo/vendor/graphql-ws"
    expected = {"/demo": "text/html", "/demo/storefront.js": "text/javascript", "/demo/api.js": "text/javascript",
                "/demo/storefront.css": "text/css", f"{vendor}/client.js": "text/javascript"}
    for path, media_type in expected.items():
        response = await api.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8", path
        assert response.headers["content-security-policy"].startswith("default-src 'self';"), path
    client = (await api.http.get(f"{vendor}/client.js")).text
    imported = re.findall(r"from '\./([^']+)'", client)
    assert imported
    for name in imported:  # the client's own modules, under their hashed names
        assert (await api.http.get(f"{vendor}/{name}")).status_code == 200, name
    not_served = ("/demo/package.json", "/demo/node_modules/graphql-ws/package.json", f"{vendor}/index.d.ts")
    for path in not_served:
        assert (await api.http.get(path)).status_code == 404, path
