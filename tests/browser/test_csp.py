"""Every admin page and the API docs under the Content-Security-Policy, in Chromium: nothing
is blocked, and the pages' JavaScript (filters, bulk actions, row deletes, date pickers,
Swagger UI) still works."""

from __future__ import annotations

import pytest
from flask import url_for
from flask_admin.contrib.sqla import ModelView

from sms_agent import handoff
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, TaskMedia
from tests.admin.conftest import PASSWORD, staff_account
from tests.factories import make_error, make_task, make_token, make_user
from tests.standins import PNG

pytestmark = pytest.mark.browser

#: Collects what the browser refused, page by page (a console message is not always logged).
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ` +
    `${event.sourceFile}:${event.lineNumber}`
  );
});
"""


class CspWatch:
    """A page that records every CSP violation of every document it shows."""

    def __init__(self, page) -> None:
        self.page = page
        self.violations: list[str] = []
        page.add_init_script(WATCH_CSP)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"{self.page.url}: {message.text}")

    def collect(self) -> None:
        """Violations the current document saw (call before leaving it)."""
        seen = self.page.evaluate("window.cspViolations || []")
        self.violations += [f"{self.page.url}: {violation}" for violation in seen]

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response.status == 200, (url, response.status)
        self.page.wait_for_load_state("networkidle")
        self.collect()


@pytest.fixture
def watched(page):
    return CspWatch(page)


@pytest.fixture
def seeded(app):
    """One row in every table, so every list, details and edit page has something to show."""
    boss = staff_account("boss", is_admin=True)
    ann = make_user("+15550100001", full_name="Ann Smith")
    make_user("+15550100002", full_name="Bob Jones")
    task = make_task(user=ann, category="coding", success=True, status="completed")
    make_error(error_type="twilio_error", error_message="Carrier rejected the message")
    db.session.add(OutboundMessage(to_number=ann.phone_number, body="Paris.", task=task))
    handoff.request_human(ann, "keyword")  # the inbox badge, and a conversation to take over
    # A picture, so the conversation shows a thumbnail (an image from this server).
    db.session.add(TaskMedia(task=task, content_type="image/png", kind="image", data=PNG))
    db.session.commit()
    make_token(boss)


def every_admin_page(app) -> list[str]:
    """Each view's pages, found from the admin itself so a new view is checked too."""
    pages = []
    with app.test_request_context():
        for view in app.extensions["admin"][0]._views:
            if view.endpoint == "media":  # no index: a picture's own URL
                picture = db.session.scalars(db.select(TaskMedia).limit(1)).first()
                pages.append(url_for("media.show", media_id=str(picture.id)))
                continue
            if not isinstance(view, ModelView):
                pages.append(url_for(f"{view.endpoint}.index"))
                continue
            row = db.session.scalars(db.select(view.model).limit(1)).first()
            row_id = str(view.get_pk_value(row))
            pages.append(url_for(f"{view.endpoint}.index_view"))
            pages.append(url_for(f"{view.endpoint}.details_view", id=row_id))
            if view.allow_create:
                pages.append(url_for(f"{view.endpoint}.create_view"))
            if view.allow_edit:
                pages.append(url_for(f"{view.endpoint}.edit_view", id=row_id))
        pages.append(url_for("user.conversation_view", id="+15550100001"))
        pages.append(url_for("inbox.index", show="needs_staff"))
    return [page for page in pages if not page.startswith("/admin/auth")]


def log_in(watched: CspWatch, base: str) -> None:
    page = watched.page
    watched.visit(base + "/admin/auth/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/admin/")
    watched.collect()


def test_every_admin_page_and_the_api_docs_obey_the_policy(app, live_server, watched, seeded):
    pages = every_admin_page(app)
    assert len(pages) >= 20 and "/admin/try-it/" in pages
    assert "/admin/inbox/" in pages and "/admin/inbox/?show=needs_staff" in pages

    log_in(watched, live_server)
    for path in pages:
        watched.visit(live_server + path)
    watched.visit(live_server + "/api/docs")
    watched.page.wait_for_selector(".opblock-summary-path")
    assert watched.page.locator(".opblock").count() >= 23
    watched.collect()

    assert watched.violations == []


def test_the_admins_javascript_still_works_under_the_policy(live_server, watched, seeded):
    page = watched.page
    log_in(watched, live_server)

    # A filter added from the menu, with its date picker.
    watched.visit(live_server + "/admin/user/")
    page.click("text=Add Filter")
    page.click("a.filter:has-text('Created')")
    assert page.locator(".filters .filter-val").count() >= 1
    watched.collect()

    # A bulk action with its confirmation, and a row's delete with its own.
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr:has-text('Ann Smith') input.action-checkbox").check()
    page.click("text=With selected")
    page.click("text=Upgrade to premium")
    page.wait_for_selector(".alert-success")
    assert "Upgraded 1 user to premium." in page.inner_text(".alert-success")
    watched.collect()
    page.locator("tr:has-text('Bob Jones') form button[title='Delete Record']").click()
    page.wait_for_selector(".alert-success")
    assert "Bob Jones" not in page.inner_text("table.model-list")
    watched.collect()

    # A link that goes nowhere ("javascript:void(0)": the active tab) stays harmless.
    page.click("ul.nav-tabs a.nav-link.active")
    watched.collect()

    # The pages that only a form leads to: a new token's key, and Try it's polled thread.
    watched.visit(live_server + "/admin/apitoken/new/")
    page.fill("input[name=user_phone]", "+15550100001")
    page.click("input[type=submit][value=Save]")
    assert page.input_value("[data-testid=api-key]").startswith("sat_")
    watched.collect()
    watched.visit(live_server + "/admin/try-it/")
    page.fill("textarea[name=message]", "What is a haiku?")
    page.click("[data-testid=tryit-form] button[type=submit]")
    page.wait_for_selector("[data-testid=thread][data-waiting=true]")
    page.wait_for_timeout(2000)  # the page polls every 1.5 s
    watched.collect()

    # The conversation page: its poll, Take over, and the composer's live measure.
    watched.visit(live_server + "/admin/user/conversation/?id=%2B15550100001")
    page.click("[data-testid=take-over]")
    page.wait_for_selector("text=You hold this conversation.")
    page.fill("textarea[name=message]", "你好")  # Chinese needs UCS-2 (an emoji would be dropped)
    page.wait_for_selector("[data-testid=measure]:has-text('UCS-2')")
    page.wait_for_timeout(2500)  # the thread polls every 2 s
    watched.collect()

    assert watched.violations == []


@pytest.mark.parametrize("path", ["/admin/auth/login/", "/api/docs"])
def test_another_site_cannot_frame_the_admin_or_the_docs(live_server, page, path):
    with page.expect_event("console", lambda message: "frame-ancestors" in message.text):
        page.set_content(f'<iframe src="{live_server}{path}"></iframe>')
    framed = page.frames[1]
    framed.wait_for_load_state()
    assert not framed.url.startswith(live_server)  # Chromium shows its error page instead
    assert "password" not in framed.content() and "swagger" not in framed.content()
