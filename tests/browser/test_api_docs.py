"""/api/docs in a real browser: Swagger UI renders from local files and can call the API."""

from __future__ import annotations

import pytest

from tests.factories import make_staff, make_token

pytestmark = pytest.mark.browser


def test_docs_page_lists_every_operation_without_leaving_the_server(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(live_server + "/api/docs")
    page.wait_for_selector(".opblock-summary-path")

    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/users/{phone_number}/update_tier/" in paths
    assert len(paths) >= 23
    assert requested and all(url.startswith(live_server) for url in requested)


def authorize(page, live_server: str) -> str:
    """Open the docs page and paste an admin's token into Authorize, as staff would; the key."""
    key = make_token(make_staff("docs", is_admin=True))
    page.goto(live_server + "/api/docs")
    page.get_by_role("button", name="Authorize").click()
    bearer = page.locator(".modal-ux .auth-container", has_text="BearerAuth")
    bearer.locator("input").fill(key)
    bearer.get_by_role("button", name="Authorize").click()
    return key


def test_docs_page_calls_the_api_with_a_token(app, page, live_server):
    authorize(page, live_server)
    page.locator(".modal-ux").get_by_role("button", name="Close").first.click()

    operation = page.locator("#operations-analytics-analytics_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    status = operation.locator(".live-responses-table tbody .response-col_status").first
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table .microlight").first
    assert "total_users" in body.inner_text()


def test_a_token_pasted_into_the_docs_is_not_kept_in_the_browser(app, page, live_server):
    """Regression: Swagger UI kept the pasted token in localStorage, so an admin's token
    outlived the page (and their logout) on a shared machine."""
    key = authorize(page, live_server)

    assert key not in page.evaluate("JSON.stringify(window.localStorage)")
    assert key not in page.evaluate("JSON.stringify(window.sessionStorage)")
