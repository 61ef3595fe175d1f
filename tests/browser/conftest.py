"""A live server in a thread and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot run here, so the tests launch the system's
Chromium. Without it they skip locally, but fail on CI, where it must be installed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from config import TestingConfig

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(app):
    """The test app served on a free loopback port; the test thread shares its database."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if TestingConfig.CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def log_out_in_another_tab(page, live_server) -> None:
    """Staff log out in a second tab of the same browser, as they would by hand.

    The tab is closed only once the login page has loaded: Chromium never finished
    closing a tab mid-navigation, and the whole suite waited on it until CI's time ran out.
    """
    other_tab = page.context.new_page()
    other_tab.goto(live_server + "/admin/")
    other_tab.click("text=Log out")
    other_tab.wait_for_selector("input[name=username]")
    other_tab.close()
