"""The staff inbox played through in Chromium: a texter asks for a person by SMS, a staff
member takes over, sees the next text arrive live, replies, hands back to the AI, and the
model answers the next text."""

from __future__ import annotations

import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from sms_agent import handoff, simulator
from sms_agent.extensions import db
from sms_agent.media.read import HELD_UNREAD
from sms_agent.models import OutboundMessage, Task, TaskMedia, User, utcnow
from sms_agent.vendors import openai as llm
from sms_agent.vendors import twilio as sms
from tests.admin.conftest import PASSWORD, StoppedClock, staff_account
from tests.browser.conftest import log_out_in_another_tab
from tests.factories import make_held_voice_note, make_task, make_user
from tests.standins import PNG, inbound_form

pytestmark = pytest.mark.browser

PHONE = "+15551230000"


def text_in(base: str, body: str, token: str) -> None:
    """An SMS from PHONE through the live server's real, signed webhook."""
    url = base + "/sms/inbound"
    form = inbound_form(body, From=PHONE)
    signature = RequestValidator(token).compute_signature(url, form)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.fixture
def jobs_in_requests(app):
    """The live server runs each job as it is enqueued, inside the request's thread; that
    thread ends with the request, so its kept vendor clients are closed with it."""

    def close_clients(_exc) -> None:
        llm.forget_clients()
        sms.forget_clients()

    app.teardown_request(close_clients)
    with simulator.jobs_inline():
        yield


def bodies_sent(twilio_server) -> list[str]:
    return [body["Body"] for _, _, body in twilio_server.requests]


def test_a_texter_asks_for_a_person_and_staff_take_over_reply_and_hand_back(
    app, live_server, page, openai_server, twilio_server, jobs_in_requests
):
    token = app.config["TWILIO_AUTH_TOKEN"]
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    text_in(live_server, "AGENT", token)
    assert bodies_sent(twilio_server) == [app.config["HANDOFF_ACK_TEXT"]]

    page.goto(live_server + "/admin/inbox/?show=needs_staff")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    row = page.locator(f"tr[data-phone='{PHONE}']")
    assert row.get_attribute("data-state") == "waiting"
    assert page.inner_text("[data-testid=inbox-badge]") == "1"

    row.locator("a").first.click()
    page.click("[data-testid=take-over]")
    page.wait_for_selector("text=You hold this conversation.")
    page.evaluate("window.notReloaded = true")

    text_in(live_server, "My order never arrived", token)
    page.wait_for_selector(".sms-in .sms-bubble:has-text('My order never arrived')")
    assert page.evaluate("window.notReloaded") is True  # it came by the poll
    assert "held for staff" in page.inner_text(".sms-row:last-child .sms-meta")

    page.fill("textarea[name=message]", "Sorry! I'm checking your order now.")
    page.wait_for_selector("[data-testid=measure]:has-text('1 segment · GSM-7')")
    page.click("[data-testid=send]")
    page.wait_for_selector(".sms-by-staff .sms-bubble:has-text('checking your order')")
    assert "boss" in page.inner_text(".sms-by-staff .sms-meta")
    assert bodies_sent(twilio_server)[-1] == "Sorry! I'm checking your order now."

    page.click("[data-testid=return-to-ai]")
    page.wait_for_selector("text=The AI answers this texter.")
    text_in(live_server, "What is the capital of France?", token)
    page.wait_for_selector(".sms-by-ai .sms-bubble:has-text('Paris is the capital')")
    assert bodies_sent(twilio_server)[-1] == "Paris is the capital of France."
    assert len(openai_server.requests) == 1  # the held text never reached the model


def test_a_texters_picture_stays_on_the_page_as_new_texts_arrive(app, live_server, page):
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    task = make_task(texter, sms_content="What plant is this?")
    picture = TaskMedia(
        task=task, position=0, content_type="image/png", kind="image", size=len(PNG), data=PNG
    )
    db.session.add(picture)
    db.session.commit()

    page.goto(live_server + "/admin/user/conversation/?id=" + urllib.parse.quote(PHONE))
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("img.sms-thumb")
    page.evaluate("window.notReloaded = true")

    make_task(texter, sms_content="Is it poisonous to cats?")
    page.wait_for_selector(".sms-bubble:has-text('Is it poisonous to cats?')")
    assert page.evaluate("window.notReloaded") is True  # it came by the poll
    thumbnail = page.locator(".sms-row:has-text('What plant is this?') img.sms-thumb")
    assert thumbnail.get_attribute("src") == f"/admin/media/{picture.id}"


def boss_opens_what_ann_holds(page, live_server) -> None:
    """Staff member ann holds PHONE's conversation; boss logs in on its page."""
    staff_account("boss", is_admin=True)
    handoff.take_over(make_user(PHONE), staff_account("ann", is_admin=True))
    db.session.commit()
    page.goto(live_server + "/admin/user/conversation/?id=" + urllib.parse.quote(PHONE))
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_returning_to_the_ai_what_another_holds_asks_first(app, live_server, page):
    boss_opens_what_ann_holds(page, live_server)
    page.click("[data-testid=return-to-ai]")
    confirm = page.locator("[data-testid=confirm-release]")
    assert "ann is handling this conversation. Return it to the AI anyway?" in confirm.inner_text()
    assert "Held by ann." in page.inner_text("[data-testid=holder-text]")

    confirm.locator("button").click()
    page.wait_for_selector("text=The AI answers this texter.")


def test_a_conversation_left_open_says_when_its_session_has_ended(app, live_server, page):
    """Logged out in another tab (or everywhere), the open page's poll got the login page
    instead of the thread: the page froze without a word, and staff watching it took the
    silence for a texter who had not written."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    conversation = "/admin/user/conversation/?id=" + urllib.parse.quote(PHONE)
    page.goto(live_server + conversation)
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=composer]")
    notice = page.locator("[data-testid=session-ended]")
    assert not notice.is_visible()

    other_tab = page.context.new_page()
    other_tab.goto(live_server + "/admin/")
    other_tab.click("text=Log out")
    other_tab.wait_for_selector("input[name=username]")
    make_task(texter, sms_content="Anyone there?")

    notice.wait_for(state="visible")
    assert "Your session has ended" in notice.inner_text()
    login = notice.locator("a").get_attribute("href")
    assert login.startswith("/admin/auth/login/?next=") and "conversation" in login


def open_conversation(live_server, page, username: str = "boss") -> None:
    page.goto(live_server + "/admin/user/conversation/?id=" + urllib.parse.quote(PHONE))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=composer]")
    # Its scripts run at the page's end: a click before them would send what they keep once.
    page.wait_for_load_state()


def test_the_buttons_follow_another_staff_members_takeover_and_release(app, live_server, page):
    """Regression: the poll updated the holder's name but not the buttons, so after ann took
    the conversation over, boss's page offered only Take over (no Return to AI), and after
    boss's own hold was released elsewhere it still offered Return to AI and no Take over."""
    staff_account("boss", is_admin=True)
    ann = staff_account("ann", is_admin=True)
    texter = make_user(PHONE)
    open_conversation(live_server, page)
    take, back = page.locator("[data-testid=take-over]"), page.locator("[data-testid=return-to-ai]")
    assert take.is_visible() and not back.is_visible()
    page.evaluate("window.notReloaded = true")

    handoff.take_over(texter, ann)
    db.session.commit()
    page.wait_for_selector("text=Held by ann.")
    back.wait_for(state="visible")
    assert take.is_visible()
    assert page.inner_text("[data-testid=state]") == "staff"

    handoff.release(texter)
    db.session.commit()
    page.wait_for_selector("text=The AI answers this texter.")
    back.wait_for(state="hidden")
    assert take.is_visible()
    assert page.evaluate("window.notReloaded") is True


def test_a_conversation_whose_texter_was_deleted_says_so(app, live_server, page):
    """Regression: the poll got 404 and the page went on showing the thread as if nothing
    had happened, its composer still offering to send to a texter who no longer exists."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    make_task(texter, sms_content="Hello?")
    open_conversation(live_server, page)
    notice = page.locator("[data-testid=texter-gone]")
    assert not notice.is_visible()

    db.session.delete(texter)
    db.session.commit()
    notice.wait_for(state="visible")
    assert "deleted" in notice.inner_text()
    assert page.locator("[data-testid=send]").is_disabled()
    assert page.locator("[data-testid=take-over]").is_disabled()


@pytest.mark.parametrize(
    ("status", "why", "shown"),
    [
        ("refused", HELD_UNREAD, f"Voice note not read (audio/ogg): {HELD_UNREAD}"),
        ("reading", None, "Voice note (audio/ogg) being read"),
    ],
    ids=["held for staff", "being read"],
)
def test_a_voice_note_arrives_by_the_poll_as_a_voice_note_and_why_it_is_unread(
    app, live_server, page, status, why, shown
):
    """The poll drew a held one as "A file we do not read (audio/ogg)", as the page did,
    and one being read as "Voice note not read (audio/ogg): ", with no reason."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    make_task(texter, sms_content="Hello")
    open_conversation(live_server, page)
    page.wait_for_selector(".sms-bubble:has-text('Hello')")
    page.evaluate("window.notReloaded = true")

    make_held_voice_note(
        make_task(texter, sms_content="Listen to this"), status=status, error_message=why
    )
    page.wait_for_selector(".sms-bubble:has-text('Listen to this')")
    assert page.evaluate("window.notReloaded") is True  # it came by the poll
    label = page.inner_text(".sms-row:has-text('Listen to this') .sms-media-label")
    assert label == shown


def test_back_then_send_again_texts_the_reply_once(app, live_server, page):
    """Regression: after Send, Back showed the page before it with the reply still in the
    box (the browser keeps what was typed) but a new form key, so pressing Send again
    texted the texter the same reply a second time."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    page.fill("textarea[name=message]", "Your order ships today.")
    send_reply(page)

    page.go_back()
    assert page.input_value("textarea[name=message]") == "Your order ships today."
    page.click("[data-testid=send]")
    page.wait_for_selector("text=Already sent")
    assert page.locator(".sms-by-staff").count() == 1
    assert [m.body for m in db.session.scalars(sa.select(OutboundMessage))] == [
        "Your order ships today."
    ]

    # Changed after Back, it is another reply, and it is sent.
    page.go_back()
    page.fill("textarea[name=message]", "Your order ships tomorrow.")
    send_reply(page)
    assert page.locator(".sms-by-staff").count() == 2


def test_a_text_arriving_by_the_poll_says_its_time_is_utc(app, live_server, page):
    """The poll draws new texts itself (conversation.js): their time says UTC too, as the
    page's own and the inbox's do."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    open_conversation(live_server, page)
    task = make_task(texter, sms_content="Anyone there?")
    page.wait_for_selector(".sms-bubble:has-text('Anyone there?')")
    meta = page.inner_text(".sms-row:last-child .sms-meta")
    assert f"{task.created_at:%Y-%m-%d %H:%M:%S} UTC" in meta


def test_a_reply_pasted_longer_than_a_reply_may_be_is_kept_whole_and_refused(
    app, live_server, page
):
    """Regression: the box's maxlength cut a pasted 2,000-character reply to 1,600 without
    a word, and Send texted the texter the first 1,600 as if they were all of it."""
    staff_account("boss", is_admin=True)
    make_user(PHONE, tier="enterprise")
    open_conversation(live_server, page)
    pasted = "Step by step. " * 150  # 2,100 characters
    page.click("textarea[name=message]")
    page.keyboard.insert_text(pasted)
    assert page.input_value("textarea[name=message]") == pasted
    page.wait_for_selector("[data-testid=measure]:has-text('too long')")
    assert "2100 characters" in page.inner_text("[data-testid=measure]")

    with page.expect_navigation():
        page.click("[data-testid=send]")
    page.wait_for_selector("text=Field cannot be longer than 1600 characters.")
    page.wait_for_load_state()  # the page's script, at its end, puts back what was kept
    assert page.input_value("textarea[name=message]") == pasted.replace("\r\n", "\n")
    # The refusal is a page of its own (a GET): Reload asks nothing and posts nothing.
    assert "/conversation/send/" not in page.url
    page.reload()
    page.wait_for_selector("[data-testid=composer]")
    assert "cannot be longer" not in page.inner_text("body")
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def send_reply(page) -> None:
    """Send what is in the composer and wait for the page that says it went. The wait is
    on the navigation: "text=Sent." alone also matched "...it has not been sent." on the
    page still showing, and a busy machine read the box before the next page came."""
    with page.expect_navigation():
        page.click("[data-testid=send]")
    page.wait_for_selector("text=Sent.")


def log_in_again(page, username: str = "boss") -> None:
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=composer]")
    page.wait_for_load_state()  # the page's script, at its end, puts back what was kept


def test_a_reply_typed_to_a_deleted_texter_is_not_put_back_for_a_new_one_with_the_number(
    app, live_server, page
):
    """Regression: the tab kept what was typed by the conversation's address, so once the
    texter was deleted and their number came back as a new texter (who texted, or was
    added), the reply written to the first was put back in the new one's box as "not sent
    yet", one Send from reaching a stranger. A draft belongs to the conversation it was
    written in."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    page.fill("textarea[name=message]", "Your account 4471 is closed as you asked.")
    db.session.delete(db.session.get(User, PHONE))
    db.session.commit()
    make_user(PHONE)
    # The page left open says its texter is gone, not the new one's thread.
    page.wait_for_selector("[data-testid=texter-gone]", state="visible")

    page.goto(live_server + "/admin/user/conversation/?id=" + urllib.parse.quote(PHONE))
    page.wait_for_selector("[data-testid=composer]")
    page.wait_for_load_state()  # the page's script, at its end, puts back what was kept
    assert page.input_value("textarea[name=message]") == ""
    assert not page.locator("[data-testid=draft-kept]").is_visible()


@pytest.mark.parametrize("how", ["the notice's link", "Send"])
def test_a_reply_typed_when_the_session_ends_is_back_after_logging_in_again(
    app, live_server, page, how
):
    """Regression: the page said the session had ended and offered "Log in again"; the
    login brought staff back to the conversation with an empty box, and the reply they had
    typed was lost (as it was when they pressed Send, which sent nothing)."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    reply = "Your refund of $20 was approved,\nyou will see it in 3 days."
    page.fill("textarea[name=message]", reply)
    log_out_in_another_tab(page, live_server)
    page.wait_for_selector("[data-testid=session-ended]", state="visible")

    if how == "Send":
        page.click("[data-testid=send]")
        page.wait_for_selector("text=nothing was changed or sent")
    else:
        page.click("[data-testid=session-ended] a")
    log_in_again(page)
    assert page.input_value("textarea[name=message]") == reply
    assert "has not been sent" in page.inner_text("[data-testid=draft-kept]")
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []

    send_reply(page)
    assert page.input_value("textarea[name=message]") == ""
    page.reload()
    assert page.input_value("textarea[name=message]") == ""
    assert not page.locator("[data-testid=draft-kept]").is_visible()
    assert [m.body for m in db.session.scalars(sa.select(OutboundMessage))] == [reply]


def test_the_composer_shows_how_a_reply_changed_for_sms_will_read(
    app, live_server, page, twilio_server
):
    """Regression: staff typed "Thanks, Zoë! 😊", the composer said "1 segment · GSM-7", and
    the texter got "Thanks, Zoe!": SMS shaping drops emoji and the accents GSM-7 lacks,
    and nothing on the page said so before Send."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    page.fill("textarea[name=message]", "Thanks, Zoë! 😊")
    page.wait_for_selector("[data-testid=sent-as]:has-text('Thanks, Zoe!')")
    assert page.inner_text("[data-testid=sent-as]") == "It goes as: Thanks, Zoe!"

    page.fill("textarea[name=message]", "Thanks, Zoe!")
    page.wait_for_selector("[data-testid=sent-as]", state="hidden")
    page.fill("textarea[name=message]", "Thanks, Zoë! 😊")
    page.wait_for_selector("[data-testid=sent-as]", state="visible")
    send_reply(page)
    assert bodies_sent(twilio_server) == ["Thanks, Zoe!"]


def composer_in_view(page) -> bool:
    box = page.locator("textarea[name=message]").bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def test_the_reply_being_typed_stays_in_view_as_the_thread_changes(app, live_server, page):
    """Regression: the page's poll redrew the thread whenever a message changed and scrolled
    its last message to the bottom of the window, which pushed the composer below it: staff
    typing a reply when their last SMS was reported delivered typed on out of sight."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    for day in range(12):
        at = utcnow() - timedelta(days=12 - day)
        task = make_task(user=texter, sms_content=f"Question {day}", created_at=at)
        answer = OutboundMessage(to_number=PHONE, body=f"Answer {day}", created_at=at)
        db.session.add(answer)
        answer.task = task
    db.session.commit()
    open_conversation(live_server, page)
    assert composer_in_view(page)  # the newest messages above it, ready to answer
    page.fill("textarea[name=message]", "Let me check that for you")

    answer.status = "delivered"
    db.session.commit()
    page.wait_for_selector(".sms-row:last-child .sms-status:has-text('delivered')")
    assert composer_in_view(page)

    text_in(live_server, "Are you there?", app.config["TWILIO_AUTH_TOKEN"])
    page.wait_for_selector("[data-direction=inbound]:has-text('Are you there?')")
    assert composer_in_view(page)
    assert page.locator("[data-direction=inbound]:has-text('Are you there?')").is_visible()
    assert page.input_value("textarea[name=message]") == "Let me check that for you"


def test_a_name_written_right_to_left_leaves_the_page_around_it_as_it_was(app, live_server, page):
    """Regression: a texter's name beginning with U+202E (right-to-left override; from
    WhatsApp's profile name, the API or a paste) turned what followed it on the line
    around too: the inbox showed 'opted out' before the name, and the conversation's title
    read 'Conversation with +1... ((htimS nnA'."""
    staff_account("boss", is_admin=True)
    make_user(PHONE, full_name="\u202eAnn Smith", opted_out_at=utcnow())
    open_conversation(live_server, page)
    title_ends_with_its_parenthesis = """title => {
        const texts = document.createTreeWalker(title, NodeFilter.SHOW_TEXT);
        let last = null;
        while (texts.nextNode()) { if (texts.currentNode.data.trim()) last = texts.currentNode; }
        const close = document.createRange();
        close.setStart(last, last.data.lastIndexOf(")"));
        close.setEnd(last, last.data.lastIndexOf(")") + 1);
        const whole = document.createRange();
        whole.selectNodeContents(title);
        return close.getBoundingClientRect().right >= whole.getBoundingClientRect().right - 1;
    }"""
    assert page.eval_on_selector("h4", title_ends_with_its_parenthesis)

    page.goto(live_server + "/admin/inbox/")
    row = page.locator(f"tr[data-phone='{PHONE}']")
    name = row.locator(".text-muted").bounding_box()
    badge = row.locator(".badge:has-text('opted out')").bounding_box()
    assert badge["x"] > name["x"]


def test_a_texter_who_opts_out_while_staff_type_is_shown_before_they_press_send(
    app, live_server, page
):
    """Regression: the page said a texter's texts are refused only as it was first drawn. A
    STOP that came while staff typed left Send enabled and no word of it (the poll carried
    the opt-out, unread), so staff learned only from the refusal after Send. The page now
    says so as the poll sees it, keeps what was typed, and offers Send again after START."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    open_conversation(live_server, page)
    refused = page.locator("[data-testid=cannot-text]")
    send = page.locator("[data-testid=send]")
    assert not refused.is_visible() and send.is_enabled()
    page.fill("textarea[name=message]", "We can help with that: call us at 9.")

    texter.opted_out_at = utcnow()  # the texter's STOP
    db.session.commit()
    refused.wait_for(state="visible")
    assert "opted out" in refused.inner_text()
    assert page.locator("[data-testid=opted-out]").is_visible()
    assert "They opted out (texted STOP) at" in page.inner_text("[data-testid=why]")
    assert send.is_disabled()
    assert page.input_value("textarea[name=message]") == "We can help with that: call us at 9."

    texter.opted_out_at = None  # their START
    db.session.commit()
    refused.wait_for(state="hidden")
    assert send.is_enabled() and not page.locator("[data-testid=opted-out]").is_visible()
    assert page.inner_text("[data-testid=why]") == ""


def test_the_composer_says_a_reply_of_only_spaces_sends_nothing_before_send(app, live_server, page):
    """Regression: a reply of only spaces, line breaks or invisible characters measured
    "3 characters", as if it would go, and only Send said there was nothing to send."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    page.fill("textarea[name=message]", "  \n\u200b ")
    measure = page.locator("[data-testid=measure]:has-text('nothing to send')")
    measure.wait_for()
    assert "only spaces or invisible characters" in measure.inner_text()
    page.fill("textarea[name=message]", "Hello")
    page.wait_for_selector("[data-testid=measure]:has-text('1 segment')")
    assert "nothing to send" not in page.inner_text("[data-testid=measure]")


def test_a_long_name_without_spaces_keeps_the_inbox_and_conversation_in_the_window(
    app, live_server, page
):
    """Regression: a texter's name of 100 letters without a space (the most a name holds;
    WhatsApp's profile name, the API or a paste) pushed the inbox 600 pixels and the
    conversation's title 1,000 past a 1,280-pixel window, to be scrolled sideways; and the
    inbox glued every name to its number ("+15551230000Ann Smith")."""
    staff_account("boss", is_admin=True)
    make_user(PHONE, full_name="W" * 100)
    make_user("+15551230001", full_name="Ann Smith")
    sideways = "e => e.scrollWidth - e.clientWidth"
    open_conversation(live_server, page)
    assert page.eval_on_selector("html", sideways) <= 0
    for url in ("/admin/inbox/", f"/admin/user/details/?id={urllib.parse.quote(PHONE)}"):
        page.goto(live_server + url)
        assert page.eval_on_selector("html", sideways) <= 0, url
    row = page.goto(live_server + "/admin/inbox/") and page.locator("tr[data-phone='+15551230001']")
    assert row.locator("td").first.inner_text().startswith("+15551230001 Ann Smith")


def test_a_paste_larger_than_a_form_may_be_is_measured_too_long_not_as_one_segment(
    app, live_server, page
):
    """Regression: the composer asks the server what the text becomes, and a paste past
    MAX_CONTENT_LENGTH (70,000 characters of a log, say) was refused before it was
    measured (413), so the composer went on showing the last text's measure: "2 characters
    · 1 segment · GSM-7" under 70,000 characters, and Send then led to the Too large page."""
    staff_account("boss", is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page)
    measure = page.locator("[data-testid=measure]")
    page.fill("textarea[name=message]", "Hi")
    page.locator("[data-testid=measure]:has-text('1 segment')").wait_for()
    page.fill("textarea[name=message]", "z" * 70_000)
    page.locator("[data-testid=measure]:has-text('too long')").wait_for()
    assert measure.inner_text() == "70000 characters · too long: a reply takes at most 1600"
    page.fill("textarea[name=message]", "Hi again")
    page.locator("[data-testid=measure]:has-text('8 characters · 1 segment')").wait_for()


def test_a_long_staff_username_keeps_the_pages_in_the_window(app, live_server, page):
    """Regression: a staff username of 80 characters without a space (the most one holds)
    pushed every admin page 232 pixels past a 1,280-pixel window (the menu's name), the
    inbox further (Held by) and Send ("Send as MMMM...") out of the composer."""
    long_name = "M" * 80
    staff_account(long_name, is_admin=True)
    make_user(PHONE)
    open_conversation(live_server, page, username=long_name)
    page.click("[data-testid=take-over]")
    page.wait_for_selector("[data-testid=holder-text]:has-text('You hold')")
    sideways = "e => e.scrollWidth - e.clientWidth"
    assert page.eval_on_selector("html", sideways) <= 0
    composer = page.locator("[data-testid=composer]").bounding_box()
    send = page.locator("[data-testid=send]").bounding_box()
    assert send["x"] + send["width"] <= composer["x"] + composer["width"]
    for url in ("/admin/", "/admin/inbox/"):
        page.goto(live_server + url)
        assert page.eval_on_selector("html", sideways) <= 0, url


def test_typing_a_reply_longer_than_one_may_be_keeps_the_session_going(
    app, live_server, page, monkeypatch
):
    """Regression: typing counts as activity for ADMIN_IDLE_MINUTES (the composer asks the
    server what the text becomes), but past 1,600 characters the composer only said "too
    long" by itself and asked nothing, so staff editing a long reply down to size were
    logged out mid-sentence, though they had typed all along."""
    app.config["ADMIN_IDLE_MINUTES"] = 30
    clock = StoppedClock(monkeypatch)
    staff_account("boss", is_admin=True)
    make_user(PHONE, tier="enterprise")
    open_conversation(live_server, page)
    page.click("textarea[name=message]")
    # The page says "too long" by itself at once; its question to the server comes after,
    # and each answer waited for below must be to the key pressed just before it (on a
    # loaded machine this one, still on its way, was taken for the first "!"'s: the last
    # "!" then counted after the reload, 58 minutes idle, and the session ended).
    with page.expect_response(lambda response: "/conversation/measure/" in response.url):
        page.keyboard.insert_text("Step by step. " * 120)  # 1,680 characters
    page.wait_for_selector("[data-testid=measure]:has-text('too long')")

    for _ in range(3):  # 87 minutes of typing, never 30 without a key pressed
        clock.wait(29)
        with page.expect_response(lambda response: "/conversation/measure/" in response.url):
            page.keyboard.type("!")
    clock.wait(29)
    page.reload()
    page.wait_for_selector("[data-testid=composer]")
    assert "1683 characters · too long" in page.inner_text("[data-testid=measure]")


def test_return_to_ai_reads_the_texts_shown_and_answers_one_held_after(
    app, live_server, page, jobs_in_requests
):
    """Returning a conversation reads the held texts staff were shown. The page had read
    them already (on screen), so the count it was drawn with named texts read before:
    posted as it was, it would read a text held since, that staff never saw, in their place.
    That one is the AI's to answer (the one staff saw is not)."""
    boss = staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    handoff.take_over(texter, boss)
    hold(texter, "My order never arrived")
    open_conversation(live_server, page)
    page.locator("[data-testid=mark-read]").wait_for(state="detached")  # read on screen
    # From here the page neither shows nor reads what comes (no poll, no read once back).
    stopped = ("/conversation/messages/", "/conversation/read/")
    page.route(lambda url: any(path in url for path in stopped), lambda route: route.abort())
    hold(db.session.get(type(texter), PHONE), "What is the capital of France?")

    with page.expect_navigation():
        page.click("[data-testid=return-to-ai]")
    page.wait_for_selector("text=Returned to the AI")
    db.session.expire_all()
    assert handoff.find(PHONE).unread == 0
    answered = db.session.scalars(sa.select(Task).where(Task.status == "completed")).all()
    assert [task.sms_content for task in answered] == ["What is the capital of France?"]


def hold(texter, text: str) -> None:
    """A text the texter sent while staff held the conversation, stored for staff."""
    make_task(texter, sms_content=text, status="refused", refusal_reason="held_for_staff")
    handoff.hold_text(texter)
    db.session.commit()


def test_the_composer_counts_a_whatsapp_reply_as_one_whatsapp_message(app, live_server, page):
    """A WhatsApp reply goes as one message, which Twilio counts in UTF-16 units: 1,560
    characters with 60 emoji are 1,620, too long, and the composer says so before Send."""
    staff_account("boss", is_admin=True)
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow())
    open_conversation(live_server, page)
    page.click("textarea[name=message]")
    page.keyboard.insert_text("Your order 📦 ships today. " * 60)
    page.wait_for_selector("[data-testid=measure]:has-text('too long')")
    assert page.inner_text("[data-testid=measure]") == (
        "1620 characters · too long: a reply takes at most 1600 as WhatsApp counts them "
        "(an emoji is two): it goes as one message"
    )


def test_back_after_taking_over_anyway_shows_the_conversation_not_a_resubmission(
    app, live_server, page
):
    """Regression: the "anyway?" question was the answer to a POST, so Back after agreeing
    led to it: Chromium's "Confirm Form Resubmission" (ERR_CACHE_MISS) instead of a page."""
    boss_opens_what_ann_holds(page, live_server)
    page.click("[data-testid=take-over]")
    confirm = page.locator("[data-testid=confirm-takeover]")
    assert "ann is handling this conversation. Take it over anyway?" in confirm.inner_text()
    confirm.locator("button").click()
    page.wait_for_selector("text=You hold this conversation.")

    page.go_back()
    page.wait_for_selector("[data-testid=holder-text]")
    assert page.inner_text("[data-testid=holder-text]") == "You hold this conversation."
    assert page.locator("[data-testid=confirm-takeover]").count() == 0


def test_a_refused_reply_says_so_on_a_page_back_and_reload_show_again(app, live_server, page):
    """Regression: a reply refused at Send (a STOP that came between two polls) was told on
    the answer to the POST, so Reload posted it again and Back to it from another page was
    Chromium's "Confirm Form Resubmission" (ERR_CACHE_MISS). It now redirects to the
    conversation, which says why and has the reply still in the box."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    open_conversation(live_server, page)
    page.fill("textarea[name=message]", "We can help with that.")
    texter.opted_out_at = utcnow()  # their STOP, before the page's poll sees it
    db.session.commit()
    with page.expect_navigation():
        page.evaluate("document.querySelector('[data-testid=composer]').requestSubmit()")
    page.wait_for_selector("text=Not sent: this texter has opted out (they texted STOP).")
    page.wait_for_load_state()
    assert page.input_value("textarea[name=message]") == "We can help with that."

    page.click("text=Inbox")
    page.wait_for_selector("tr[data-phone]")
    page.go_back()
    page.wait_for_selector("[data-testid=composer]")
    page.reload()
    page.wait_for_selector("[data-testid=composer]")
    assert "Not sent" not in page.inner_text("body")
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_a_direction_override_arriving_by_the_poll_is_seen_not_obeyed(app, live_server, page):
    """Regression: a text with U+202E drawn with the page showed it as its escape, but the
    same text arriving by the poll (conversation.js) obeyed it: the rest of the bubble read
    backwards ("evil.exe" shown as "exe.live"), and so did a voice note's transcript."""
    staff_account("boss", is_admin=True)
    texter = make_user(PHONE)
    open_conversation(live_server, page)
    task = make_task(texter, sms_content="see \u202eexe.live")
    db.session.add(
        TaskMedia(
            task=task,
            position=0,
            content_type="audio/ogg",
            kind="audio",
            status="read",
            transcript="said \u202eolleh",
        )
    )
    db.session.commit()
    page.wait_for_selector(".sms-bubble:has-text('see')")
    arrived = page.inner_text(".sms-row:last-child .sms-bubble")
    transcript = page.inner_text(".sms-row:last-child [data-testid=transcript]")
    page.reload()
    page.wait_for_selector(".sms-bubble:has-text('see')")
    assert page.inner_text(".sms-row:last-child .sms-bubble") == "see \\u202eexe.live"
    assert (arrived, transcript) == ("see \\u202eexe.live", "said \\u202eolleh")
    assert page.inner_text(".sms-row:last-child [data-testid=transcript]") == transcript
