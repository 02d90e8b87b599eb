"""GraphiQL in a real browser, with nothing but the server to reach: it loads, runs a query and
shows the answer, and shows a subscription's notification when a change is made."""

from __future__ import annotations

from urllib.parse import quote

from playwright.async_api import Page, Request, expect

from tests.browser.catalog import adjust_stock
from tests.support import Api, LiveServer, until_subscriptions_open

RUN = ".graphiql-execute-button"
RESULT = ".graphiql-response"


async def open_graphiql(page: Page, server_url: str, document: str) -> None:
    """GraphiQL with `document` in its editor (the page reads it from `q`), ready to run it."""
    await page.goto(f"{server_url}/graphql?q={quote(document)}")
    await expect(page.locator(RUN)).to_be_enabled()


async def test_graphiql_loads_every_file_from_the_server_itself(page: Page, live_server: LiveServer) -> None:
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    endpoint = f"{live_server.url}/graphql"
    async with page.expect_response(lambda response: response.url == endpoint and response.request.method == "POST"
                                    ) as introspection:
        await open_graphiql(page, live_server.url, "{ syncStatus { lag } }")
    sent = (await introspection.value).request.post_data_json
    assert sent is not None and "__schema" in sent["query"]
    await expect(page.get_by_test_id("graphiql-container")).to_be_visible()
    assets = [url for url in requested if url.startswith(f"{live_server.url}/graphiql-assets/")]
    assert len(assets) == 7, requested  # React, ReactDOM, js-cookie, GraphiQL and its explorer, two stylesheets
    # Nothing else was asked of any other host, or the page fixture fails the test.


async def test_graphiql_runs_a_query_and_shows_its_result(
    page: Page, live_server: LiveServer, catalog: dict[str, str]
) -> None:
    await open_graphiql(page, live_server.url,
                        '{ products(filter: {category: ["garden"]}) { totalCount edges { node { sku } } } }')
    await page.locator(RUN).click()
    result = page.locator(RESULT)
    await expect(result).to_contain_text('"totalCount": 2')
    await expect(result).to_contain_text('"sku": "HOSE-1"')
    await expect(result).to_contain_text('"sku": "RAKE-1"')


async def test_graphiql_shows_a_subscription_notification_when_a_change_is_made(
    page: Page, live_server: LiveServer, api: Api, catalog: dict[str, str]
) -> None:
    document = f'subscription {{ productChanged(id: "{catalog["MUG-2"]}") {{ event product {{ sku stock }} }} }}'
    await open_graphiql(page, live_server.url, document)
    await page.locator(RUN).click()
    await until_subscriptions_open(live_server.container, 1)
    await adjust_stock(api, catalog["MUG-2"], +6)
    result = page.locator(RESULT)
    await expect(result).to_contain_text('"event": "StockAdjusted"')
    await expect(result).to_contain_text('"stock": 10')
