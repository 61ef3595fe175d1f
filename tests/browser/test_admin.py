"""A staff member's day in a real browser: log in, find a texter, upgrade them, read charts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import request

from sms_agent import handoff, jobs
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import Conversation, OutboundMessage, Task, utcnow
from tests.admin.conftest import PASSWORD, staff_account
from tests.browser.conftest import log_out_in_another_tab
from tests.factories import make_error, make_task, make_test_number, make_user
from tests.standins import OGG

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(app):
    staff_account("boss", is_admin=True)
    ann = make_user("+15550100001", full_name="Ann Smith", monthly_requests=40)
    bob = make_user("+15550100002", full_name="Bob Jones", tier="premium")
    for days_ago in range(0, 20, 2):
        created = utcnow() - timedelta(days=days_ago)
        make_task(user=ann, category="coding", success=True, status="completed", created_at=created)
        make_task(user=bob, status="failed", created_at=created - timedelta(hours=1))
    make_task(user=bob, category="analysis", success=True, status="completed")
    make_error(error_type="twilio_error", error_message="Carrier rejected the message")
    return ann, bob


def log_in(page, base: str) -> None:
    page.goto(base + "/admin/user/")
    assert "/admin/auth/login/" in page.url
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/admin/user/")


def test_log_in_search_and_upgrade_a_texter(live_server, page, seeded):
    log_in(page, live_server)
    page.fill("input[name=search]", "Ann")
    page.press("input[name=search]", "Enter")
    page.wait_for_url("**search=Ann**")
    rows = page.locator("table.model-list tbody tr")
    assert rows.count() == 1 and "Ann Smith" in rows.first.inner_text()

    rows.first.locator("input.action-checkbox").check()
    page.click("text=With selected")
    page.once("dialog", lambda dialog: dialog.accept())  # "Upgrade the selected texters...?"
    page.click("text=Upgrade to premium")
    page.wait_for_selector(".alert-success")
    assert "Upgraded 1 user to premium." in page.inner_text(".alert-success")
    row = page.locator("table.model-list tbody tr", has_text="Ann Smith")
    cells = row.locator("td.col-tier, td.col-monthly_requests").all_inner_texts()
    assert [cell.strip() for cell in cells] == ["Premium", "0"]


def test_export_conversations_downloads_a_csv(live_server, browser, seeded):
    ann, _bob = seeded
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server)
        row = page.locator("table.model-list tbody tr", has_text="Ann Smith")
        row.locator("input.action-checkbox").check()
        page.click("text=With selected")
        with page.expect_download() as download:
            page.click("text=Export conversations")
        assert download.value.suggested_filename.startswith("conversations-")
        lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    finally:
        context.close()
    assert lines[0].startswith("phone_number,created_at,direction,")
    # A "+" starts a formula in a spreadsheet: the number comes with its apostrophe.
    assert {line.split(",")[0] for line in lines[1:]} == {"'" + ann.phone_number}
    assert len(lines) == 1 + 10 + 1  # header, Ann's ten texts, her total


def test_dashboard_charts_render(live_server, page, seeded, tmp_path):
    log_in(page, live_server)
    page.goto(live_server + "/admin/")
    assert page.title() == "Dashboard | SMS-to-AI Agent Admin"
    assert "Welcome to SMS-to-AI Agent Administration" in page.inner_text("h3")
    daily = page.locator("[data-testid=chart-daily] svg")
    assert daily.locator("rect.bar-ok").count() == 10
    assert daily.locator("rect.bar-failed").count() >= 10
    box = daily.locator("rect.bar-ok").first.bounding_box()
    assert box["height"] > 1 and box["width"] > 1  # drawn, not just present
    assert page.locator("[data-testid=chart-categories] svg rect.bar").count() == 3
    assert page.locator("[data-testid=chart-tiers] svg rect.bar").count() == 2
    assert "Carrier rejected the message" in page.inner_text("[data-testid=latest-errors]")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_the_dashboard_fits_a_phone_screen(live_server, browser, seeded):
    """Regression: on a 375-pixel phone the latest errors' table made the whole dashboard
    523 pixels wide, so every card and chart scrolled sideways with it."""
    make_error(
        error_type="openai_error",
        error_message="Rate limit reached " * 5,
        user_phone="+15550100001",
    )
    page = browser.new_page(viewport={"width": 375, "height": 800})
    log_in(page, live_server)
    page.goto(live_server + "/admin/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("[data-testid=latest-errors] :text('openai_error')").is_visible()
    page.close()


def test_conversation_tab_shows_the_thread(live_server, page, seeded):
    ann, _bob = seeded
    log_in(page, live_server)
    page.click("table.model-list tbody tr:has-text('Ann Smith') a[title=Conversation]")
    page.wait_for_selector("[data-testid=thread]")
    bubbles = page.locator("[data-direction=inbound]")
    assert bubbles.count() == 10


def test_the_conversation_on_screen_reads_what_was_held_and_a_prefetch_does_not(
    live_server, page, seeded
):
    ann, _bob = seeded
    handoff.request_human(ann, "keyword")
    handoff.hold_text(ann)
    db.session.commit()
    log_in(page, live_server)
    url = live_server + "/admin/user/conversation/?id=%2B15550100001"
    assert page.request.get(url).ok  # a prefetch: the page fetched, never shown
    assert unread_of(ann) == 1
    page.goto(url)
    page.wait_for_selector("[data-testid=thread]")
    deadline = time.monotonic() + 10
    while unread_of(ann) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unread_of(ann) == 0
    assert page.locator("[data-testid=mark-read]").count() == 0


def unread_of(user) -> int:
    db.session.expire_all()
    return db.session.get(Conversation, user.phone_number).unread


def try_it(page, base: str, number: str, text: str) -> None:
    """Log in and text the service from `number` on the Try it page."""
    log_in(page, base)
    page.click("text=Try it")
    # Its scripts run at the page's end: a click before them would send what they keep once.
    page.wait_for_load_state()
    page.fill("input[name=from_number]", number)
    page.fill("textarea[name=message]", text)
    page.click("[data-testid=tryit-form] button[type=submit]")


def test_try_it_shows_the_reply_when_the_worker_sends_it(live_server, page, seeded):
    try_it(page, live_server, "+1 415 555 0199", "What is a haiku?")
    page.wait_for_selector("[data-direction=inbound]:has-text('What is a haiku?')")
    assert page.locator("[data-testid=thread][data-waiting=true]").count() == 1

    # Do the worker's job from here; the page's poll must pick the reply up by itself.
    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550199"))
    pipeline.answer(str(task.id))
    page.wait_for_selector("[data-testid=thread][data-waiting=false] [data-direction=outbound]")
    assert "Waiting for the reply" not in page.inner_text("#thread-box")


def test_try_it_waiting_for_a_reply_says_when_its_session_has_ended(live_server, page, seeded):
    """Logged out in another tab while the page waited, its poll put the login page, menu
    and all, where the thread was."""
    try_it(page, live_server, "+1 415 555 0199", "What is a haiku?")
    page.wait_for_selector("[data-testid=thread][data-waiting=true]")

    other_tab = page.context.new_page()
    other_tab.goto(live_server + "/admin/")
    other_tab.click("text=Log out")
    other_tab.wait_for_selector("input[name=username]")

    page.locator("[data-testid=session-ended]").wait_for(state="visible")
    assert "What is a haiku?" in page.inner_text("#thread-box")
    assert page.locator("#thread-box input[name=username]").count() == 0


def test_try_it_shows_a_text_that_failed_unsent_as_soon_as_it_fails(live_server, page, seeded):
    log_in(page, live_server)
    page.click("text=Try it")
    page.fill("input[name=from_number]", "+44 7700 900123")  # outside ALLOWED_COUNTRIES
    page.fill("textarea[name=message]", "What is a haiku?")
    page.click("[data-testid=tryit-form] button[type=submit]")
    page.wait_for_selector("text=Waiting for the reply")

    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+447700900123"))
    pipeline.answer(str(task.id))
    page.wait_for_selector("#thread-box .sms-status-failed", timeout=10_000)
    box = page.inner_text("#thread-box")
    assert "SMS to GB is not allowed" in box and "Waiting for the reply" not in box


def test_try_it_shows_the_quota_notice_after_a_refused_text(live_server, page, seeded):
    """The refusal shows at once; the notice the worker sends next shows without a reload."""
    make_test_number("+14155550198", monthly_requests=100)
    log_in(page, live_server)
    page.click("text=Try it")
    page.fill("input[name=from_number]", "+1 415 555 0198")
    page.fill("textarea[name=message]", "One more question?")
    page.click("[data-testid=tryit-form] button[type=submit]")
    page.wait_for_selector("[data-direction=inbound]:has-text('One more question?')")
    assert "refused: over quota" in page.inner_text("#thread-box")

    # Do the worker's job from here; the page's poll must pick the notice up by itself.
    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550198"))
    jobs.send_notice(task.user_phone, "quota", task.message_sid)
    page.wait_for_selector("[data-direction=outbound]:has-text('used your 100 requests')")
    assert page.locator("[data-testid=thread][data-waiting=false]").count() == 1


def test_try_it_back_then_send_again_texts_once(live_server, page, seeded):
    """Regression: Back after Send showed the form with the message still typed but a new
    key, so Send went out as a second text from the texter (answered, and counted, twice)."""
    try_it(page, live_server, "+1 415 555 0199", "What is a haiku?")
    page.wait_for_selector("[data-direction=inbound]:has-text('What is a haiku?')")
    page.go_back()
    assert page.input_value("textarea[name=message]") == "What is a haiku?"
    with page.expect_navigation(url="**sent=**"):
        page.click("[data-testid=tryit-form] button[type=submit]")
    assert page.locator("[data-direction=inbound]").count() == 1
    tasks = sa.select(sa.func.count()).where(Task.user_phone == "+14155550199")
    assert db.session.scalar(tasks) == 1


def test_a_double_click_on_create_token_makes_one_token_and_shows_its_key(
    live_server, page, seeded
):
    """Regression: each click posted the form, so a double click made two tokens and the
    page showed the second one's key (the first lived on, unseen)."""
    from sms_agent.models import ApiToken

    log_in(page, live_server)
    page.goto(live_server + "/admin/apitoken/new/")
    page.select_option("select[name=staff_user]", index=1)
    page.fill("input[name=name]", "laptop")
    # Two submissions before the first answer arrives, as a quick double click makes them.
    page.evaluate(
        "const form = document.querySelector('form.admin-form');"
        "form.requestSubmit(); setTimeout(() => form.requestSubmit(), 30);"
    )
    key = page.locator("input[value^=sat_]").get_attribute("value")
    time.sleep(1)  # a second post, had one been sent, is answered meanwhile
    (token,) = db.session.scalars(sa.select(ApiToken)).all()
    assert ApiToken.find_active(key) == token


def test_back_to_a_new_tokens_page_says_its_key_was_shown_once(live_server, page, seeded):
    """Regression: the key was the answer to the form's POST (kept by no cache, as a key
    must be), so Back to it from the list was Chromium's "Confirm Form Resubmission"
    (ERR_CACHE_MISS). The key is now shown on a page of its own, once: Back and Reload
    show that page again without it."""
    from sms_agent.models import ApiToken

    log_in(page, live_server)
    page.goto(live_server + "/admin/apitoken/new/")
    page.select_option("select[name=staff_user]", index=1)
    page.click("input[type=submit][value=Save]")
    key = page.input_value("[data-testid=api-key]")
    assert ApiToken.find_active(key) is not None
    page.click("text=Done")
    page.wait_for_selector("table.model-list")
    page.go_back()
    page.wait_for_selector("text=shown only once")
    assert page.locator("[data-testid=api-key]").count() == 0
    assert key not in page.content()
    page.reload()
    page.wait_for_selector("text=shown only once")
    assert key not in page.content()


def test_a_task_answered_while_its_edit_page_is_open_keeps_its_answer(live_server, page, seeded):
    """The Edit page in a real browser (its line breaks, its JSON): a change of category
    saved after the worker answered the task keeps the answer; a multi-line note that staff
    edit themselves is saved as typed."""
    task = make_task(
        user=seeded[0], status="queued", metadata_={"source": "sms"}, error_message="a\nb"
    )
    log_in(page, live_server)
    page.goto(live_server + f"/admin/task/edit/?id={task.id}")
    page.select_option("select[name=category]", "coding")
    page.fill("textarea[name=error_message]", "first line\nsecond line")
    task.status, task.success, task.ai_response = "completed", True, "Paris.\nThe capital."
    db.session.commit()

    page.click("form.admin-form [type=submit]")
    page.wait_for_url(lambda url: "/admin/task/edit/" not in url)
    db.session.expire_all()
    saved = db.session.get(Task, task.id)
    assert (saved.category, saved.status, saved.success) == ("coding", "completed", True)
    assert saved.ai_response == "Paris.\nThe capital." and saved.metadata_ == {"source": "sms"}
    assert saved.error_message.replace("\r\n", "\n") == "first line\nsecond line"


def test_try_it_takes_a_voice_note_as_a_browser_records_it(
    live_server, page, seeded, media_store, tmp_path
):
    """Regression: a .webm voice note (what a browser records, WebM/Opus) was refused as
    "not a picture or a voice note", and the file picker hid it as a video."""
    note = tmp_path / "recording.webm"
    note.write_bytes(OGG)
    log_in(page, live_server)
    page.click("text=Try it")
    page.fill("input[name=from_number]", "+1 415 555 0198")
    assert ".webm" in page.get_attribute("input[name=attachment]", "accept").split(",")
    page.set_input_files("input[name=attachment]", str(note))
    page.click("[data-testid=tryit-form] button[type=submit]")
    page.wait_for_selector("[data-testid=thread][data-waiting=true]")

    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550198"))
    pipeline.answer(str(task.id))
    page.wait_for_selector("[data-testid=thread][data-waiting=false] [data-direction=outbound]")
    voice = page.locator("[data-testid=media][data-kind=audio][data-status=read]")
    assert "audio/webm" in voice.inner_text()
    assert voice.locator("[data-testid=transcript]").inner_text().startswith("[Offline transcript]")


def test_a_name_with_a_line_break_is_kept_when_another_field_is_saved(live_server, page, seeded):
    """Regression: Chromium sends a one-line input's value without its line breaks, so a
    name the API stored as "Ann\\nSmith" was saved as "AnnSmith" with the timezone."""
    ann = seeded[0]
    ann.full_name = "Ann\nSmith"
    db.session.commit()
    log_in(page, live_server)
    page.goto(live_server + f"/admin/user/edit/?id={ann.phone_number.replace('+', '%2B')}")
    page.fill("input[name=timezone]", "Europe/Paris")
    page.click("form.admin-form [type=submit]")
    page.wait_for_url(lambda url: "/admin/user/edit/" not in url)
    db.session.expire_all()
    saved = db.session.get(type(ann), ann.phone_number)
    assert (saved.full_name, saved.timezone) == ("Ann\nSmith", "Europe/Paris")


@pytest.mark.parametrize("how", ["the notice's link", "Send"])
def test_try_it_keeps_the_next_message_typed_when_the_session_ends(live_server, page, seeded, how):
    """Regression: logged out in another tab while the page waited for a reply, staff typed
    their next message (from another number) and pressed "Log in again", or Send, which
    sent nothing; the login brought them back to the page with the box empty and the
    number the last text came from, the message lost."""
    try_it(page, live_server, "+1 415 555 0199", "What is a haiku?")
    page.wait_for_selector("[data-testid=thread][data-waiting=true]")
    page.fill("input[name=from_number]", "+1 415 555 0177")
    page.select_option("select[name=channel]", "whatsapp")
    page.fill("textarea[name=message]", "And a limerick?\nA short one.")
    log_out_in_another_tab(page, live_server)
    page.locator("[data-testid=session-ended]").wait_for(state="visible")

    if how == "Send":
        page.click("[data-testid=tryit-form] button[type=submit]")
        page.wait_for_selector("text=nothing was changed or sent")
    else:
        page.click("[data-testid=session-ended] a")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=tryit-form]")
    page.wait_for_load_state()  # the page's scripts, at its end, put back what was kept
    assert page.input_value("textarea[name=message]") == "And a limerick?\nA short one."
    assert page.input_value("input[name=from_number]") == "+1 415 555 0177"
    assert page.input_value("select[name=channel]") == "whatsapp"
    assert "has not been sent" in page.inner_text("[data-testid=draft-kept]")
    assert db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550177")) is None

    with page.expect_navigation(url="**sent=**"):
        page.click("[data-testid=tryit-form] button[type=submit]")
    page.wait_for_selector("[data-direction=inbound]:has-text('And a limerick?')")
    assert page.input_value("textarea[name=message]") == ""
    page.reload()
    page.wait_for_load_state()
    assert page.input_value("textarea[name=message]") == ""
    assert not page.locator("[data-testid=draft-kept]").is_visible()


def test_a_date_filter_picked_in_los_angeles_is_in_utc_like_the_list(live_server, browser, seeded):
    """Regression: the filter's date picker started at the browser's own time (23:15 in Los
    Angeles when it was 07:15 UTC) and the server read it as UTC, as the list shows its
    times: Tasks "Created greater than" the picker's now listed the last eight hours."""
    ann, _bob = seeded
    earlier = make_task(user=ann, created_at=utcnow() - timedelta(hours=2))
    context = browser.new_context(timezone_id="America/Los_Angeles")
    page = context.new_page()
    log_in(page, live_server)
    page.goto(live_server + "/admin/task/")
    page.wait_for_load_state()
    page.click("text=Add Filter")
    page.click("a.filter:has-text('Created')")
    # The operation's list is select2's: its own select is hidden behind it.
    page.eval_on_selector(
        "select.filter-op", "op => $(op).val('created_greater_than').trigger('change')"
    )
    box = page.locator("input.filter-val")
    assert box.get_attribute("placeholder") == "UTC, as YYYY-MM-DD HH:MM:SS"

    box.click()
    page.click(".daterangepicker button.applyBtn:visible")
    picked = datetime.strptime(box.input_value(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(picked - utcnow()) < timedelta(minutes=2)
    page.click("#filter_form button[type=submit]")
    page.wait_for_url("**_created_greater_than=**")
    listed = page.inner_text("table.model-list")
    assert str(earlier.id)[:8] not in listed
    context.close()


def test_a_date_pickers_today_is_the_utc_day_whatever_the_browsers_timezone(
    live_server, browser, seeded
):
    """Regression: the pickers marked as today the browser's own day (in Kiritimati, the day
    after UTC's), while their times and every page of the admin are in UTC."""
    ann, _bob = seeded
    now = utcnow()
    # A zone whose date is not UTC's at this hour: fourteen hours ahead, or eleven behind.
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    context = browser.new_context(timezone_id=zone)
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server}/admin/user/edit/?id={ann.phone_number.replace('+', '%2B')}")
    page.wait_for_load_state()
    page.click("input[name=context_reset_at]")  # empty: the picker opens at now
    today = page.locator(".daterangepicker td.today:visible")
    assert today.count() == 1
    assert today.inner_text() == str(utcnow().day)
    # Drawn again, after a look at the next month.
    page.click(".daterangepicker th.next:visible")
    page.click(".daterangepicker th.prev:visible")
    assert today.count() == 1
    assert today.inner_text() == str(utcnow().day)
    context.close()


def test_hebrew_and_arabic_read_right_to_left_in_the_thread_and_the_composer(
    live_server, page, seeded
):
    """Regression: every bubble was laid out left to right, so a Hebrew text's question
    mark stood at its right end, where a reader of Hebrew takes it for its start; a text
    arriving while the page is open, and what staff type in the composer, too."""
    ann, _bob = seeded
    make_task(user=ann, sms_content="שלום, מה שלומך?")
    log_in(page, live_server)
    page.goto(live_server + "/admin/user/conversation/?id=%2B15550100001")
    page.wait_for_selector("[data-testid=thread]")

    def direction(selector: str) -> str:
        page.wait_for_selector(selector)
        return page.eval_on_selector(selector, "node => getComputedStyle(node).direction")

    assert direction(".sms-bubble:has-text('שלום')") == "rtl"
    assert direction(".sms-bubble:has-text('capital of France')") == "ltr"
    make_task(user=ann, sms_content="مرحبا، كيف حالك؟")  # arrives while the page is open
    assert direction(".sms-bubble:has-text('مرحبا')") == "rtl"
    page.fill("textarea[name=message]", "תודה!")
    assert direction("textarea[name=message]") == "rtl"


@pytest.mark.parametrize(
    ("page_path", "box", "longest"),
    [
        ("/admin/staffuser/new/", "username", 80),
        ("/admin/apitoken/new/", "name", 100),
        ("/admin/auth/login/", "username", 80),
    ],
)
def test_a_name_of_the_most_characters_typed_with_spaces_around_it_is_kept_whole(
    live_server, page, seeded, page_path, box, longest
):
    """Regression: the box's maxlength counted the spaces around the name, which the server
    drops before checking its length: typed with a space before it, a name of the most
    characters allowed lost its last one in the browser."""
    name = "n" * longest
    if "/auth/" not in page_path:
        log_in(page, live_server)
    page.goto(live_server + page_path)
    page.locator(f"input[name={box}]").press_sequentially(f" {name} ")
    assert page.input_value(f"input[name={box}]") == f" {name} "


def test_an_edit_typed_when_the_session_ends_is_back_after_logging_in_again(
    live_server, page, seeded
):
    """Regression: logged out in another tab (or idle past ADMIN_IDLE_MINUTES) while editing
    a task, staff pressed Save; the login page said nothing was saved, and logging in
    brought them back to the Edit page as stored, the answer they had typed lost. What was
    typed is back, with what the page showed then, so a field someone else changed
    meanwhile is still not saved over theirs; the password of a staff form is never kept."""
    task = make_task(user=seeded[0], status="failed", category="general", ai_response=None)
    log_in(page, live_server)
    page.goto(live_server + f"/admin/task/edit/?id={task.id}")
    page.select_option("select[name=category]", "coding")
    page.fill("textarea[name=ai_response]", "Paris.\nThe capital of France.")
    log_out_in_another_tab(page, live_server)
    task.error_message = "changed by a colleague meanwhile"
    db.session.commit()

    with page.expect_navigation(url="**/admin/auth/login/**"):
        page.click("form.admin-form [type=submit]")
    assert "nothing was changed or sent" in page.inner_text(".alert")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url="**/admin/task/edit/**"):
        page.click("button[type=submit]")
    page.wait_for_load_state()  # the page's scripts, at its end, put back what was kept
    assert page.input_value("textarea[name=ai_response]") == "Paris.\nThe capital of France."
    assert page.input_value("select[name=category]") == "coding"
    assert "not saved yet" in page.inner_text("[data-testid=draft-kept]")

    page.select_option("select[name=status]", "completed")
    with page.expect_navigation(url=lambda url: "/admin/task/edit/" not in url):
        page.click("form.admin-form [type=submit]")
    db.session.expire_all()
    saved = db.session.get(Task, task.id)
    assert (saved.category, saved.status) == ("coding", "completed")
    assert saved.ai_response.replace("\r\n", "\n") == "Paris.\nThe capital of France."
    assert saved.error_message == "changed by a colleague meanwhile"

    page.goto(live_server + f"/admin/task/edit/?id={task.id}")
    page.wait_for_load_state()
    assert not page.locator("[data-testid=draft-kept]").is_visible()


def test_try_it_refuses_a_pasted_message_longer_than_whatsapp_takes_and_keeps_it_whole(
    live_server, page, seeded
):
    """Regression: the box's maxlength cut a longer paste to 4,096 characters without a
    word, and the cut text was sent as if it were what staff had pasted (the staff reply's
    composer had lost its maxlength for this)."""
    pasted = ("A long pasted paragraph. " * 170)[:4200]
    log_in(page, live_server)
    page.click("text=Try it")
    page.wait_for_load_state()
    page.fill("input[name=from_number]", "+1 415 555 0166")
    page.select_option("select[name=channel]", "whatsapp")
    page.fill("textarea[name=message]", pasted)
    assert len(page.input_value("textarea[name=message]")) == 4200
    with page.expect_navigation():
        page.click("[data-testid=tryit-form] button[type=submit]")
    assert "4096" in page.inner_text(".invalid-feedback") or "4,096" in page.inner_text(
        ".invalid-feedback"
    )
    assert len(page.input_value("textarea[name=message]").replace("\r\n", "\n")) == 4200
    assert db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550166")) is None


def test_the_other_lists_fit_a_laptop_screen(live_server, browser, app):
    """Regression: at 1280 pixels a message's SID (34 characters, no space) pushed the
    Outbound messages list 42 pixels past the window, to be scrolled sideways."""
    staff_account("boss", is_admin=True)
    seeded = app.test_cli_runner().invoke(args=["demo", "seed", "--users", "60", "--tasks", "600"])
    assert seeded.exit_code == 0, seeded.output
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log_in(page, live_server)
    sideways = "e => e.scrollWidth - e.clientWidth"
    for url in ("/admin/task/", "/admin/errorlog/", "/admin/outboundmessage/"):
        page.goto(live_server + url)
        page.wait_for_selector("table.model-list tbody tr")
        assert page.eval_on_selector("html", sideways) <= 0, url
        assert page.eval_on_selector(".table-responsive", sideways) <= 0, url
    page.close()


def test_the_users_list_fits_a_laptop_screen(live_server, browser, app):
    """Regression: at 1280 pixels the Users list of seeded texters (names, emails, costs,
    dates) was 1,337 pixels wide in a 1,110-pixel column, and staff scrolled it sideways to
    reach a texter's last activity; its dates wrapped, three lines to a row."""
    staff_account("boss", is_admin=True)
    seeded = app.test_cli_runner().invoke(args=["demo", "seed", "--users", "60", "--tasks", "600"])
    assert seeded.exit_code == 0, seeded.output
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log_in(page, live_server)
    page.wait_for_selector("table.model-list tbody tr")
    sideways = "e => e.scrollWidth - e.clientWidth"
    assert page.eval_on_selector("html", sideways) <= 0
    assert page.eval_on_selector(".table-responsive", sideways) <= 0  # the table's own scroll
    headers = page.locator("table.model-list thead th.column-header").all_inner_texts()
    for kept in ("Phone", "Tier", "Full name", "Monthly requests", "Spend (USD)"):
        assert kept in [" ".join(header.split()) for header in headers]
    page.close()


def test_a_long_word_in_a_name_or_a_message_keeps_the_lists_in_the_window(
    live_server, browser, seeded
):
    """Regression: a texter's name of 100 letters without a space (a WhatsApp profile name,
    the API) pushed the Users list 1,307 pixels sideways, every column after it out of
    sight; an answer with a long link did the same to Outbound messages (192 pixels)."""
    make_user("+15550100003", full_name="W" * 100)
    link = "See https://example.com/" + "a" * 300
    db.session.add(OutboundMessage(to_number="+15550100003", body=link))
    db.session.commit()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log_in(page, live_server)
    sideways = "e => e.scrollWidth - e.clientWidth"
    for url in ("/admin/user/", "/admin/outboundmessage/"):
        page.goto(live_server + url)
        page.wait_for_selector("table.model-list tbody tr")
        assert page.eval_on_selector("html", sideways) <= 0, url
        assert page.eval_on_selector(".table-responsive", sideways) <= 0, url
    page.close()


def test_admin_pages_ask_for_nothing_that_is_not_there(app, live_server, page, seeded):
    """Regression: every admin page made the browser ask for /favicon.ico, a 404 in the
    console of each page staff opened. The browser's own request for the icon is not the
    page's, so it is watched at the server."""
    answered: list[tuple[str, int]] = []
    icon_asked = threading.Event()
    kept: list[str] = []

    @app.after_request
    def watch(response):
        answered.append((request.path, response.status_code))
        if request.path == "/favicon.ico":
            kept.append(response.headers.get("Cache-Control", ""))
            icon_asked.set()
        return response

    log_in(page, live_server)
    page.goto(live_server + "/admin/inbox/")
    assert icon_asked.wait(10), "the browser asked for no icon"
    assert [(path, status) for path, status in answered if status >= 400] == []
    assert ("/favicon.ico", 200) in answered
    assert "max-age=604800" in kept[0]  # kept a week, so not asked for on every page


@pytest.mark.parametrize("action", ["Upgrade to premium", "Downgrade to free"])
def test_a_bulk_tier_change_asks_first(live_server, page, seeded, action):
    """Regression: a careless click in "With selected" changed the tier of every texter on
    the page (and texted those upgraded) unasked: only Delete asked first."""
    log_in(page, live_server)
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("thead input.action-rowtoggle").check()
    page.click("text=With selected")
    page.click(f"a:has-text('{action}')")
    assert asked and "texted about it if TIER_CHANGE_SMS says so" in asked[0]
    db.session.expire_all()
    assert sorted(user.tier for user in seeded) == ["free", "premium"]
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
