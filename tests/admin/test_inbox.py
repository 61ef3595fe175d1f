"""The staff inbox and the conversation page: staff see who waits, take over, reply through
the one sending door and hand back to the AI; read-only staff only look."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta
from unittest import mock
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent import handoff, simulator
from sms_agent.extensions import db
from sms_agent.models import (
    Conversation,
    ErrorLog,
    OutboundMessage,
    StaffUser,
    Task,
    User,
    utcnow,
)
from tests.admin.conftest import csrf_for, csrf_from, log_in, post_at_once, staff_account
from tests.factories import make_error, make_task, make_user
from tests.standins import inbound_form, signed_post

PHONE = "+15550100001"
PAGE = f"/admin/user/conversation/?id={quote(PHONE)}"


def page_of(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def composer(client, phone: str = PHONE) -> dict:
    """The hidden fields of the conversation page's forms, as a browser would post them."""
    page = page_of(client, f"/admin/user/conversation/?id={quote(phone)}")
    submission = re.search(r'name="submission"[^>]*value="([^"]+)"', page)
    return {"csrf_token": csrf_from(page), "submission": submission and submission.group(1)}


def post(client, action: str, data: dict | None = None, phone: str = PHONE):
    url = f"/admin/user/conversation/{action}/?id={quote(phone)}"
    return client.post(url, data={**composer(client, phone), **(data or {})})


def refused(client, data: dict, phone: str = PHONE) -> str:
    """The page a refused reply leads to: the conversation (a GET, so Reload and Back show
    it again), saying why; the browser's tab keeps what was typed (drafts.js)."""
    response = post(client, "send", data, phone=phone)
    assert response.status_code == 302
    assert response.location == f"/admin/user/conversation/?id={quote(phone)}"
    return html.unescape(page_of(client, response.location))


def field_error(client, data: dict, phone: str = PHONE) -> str:
    """The page a reply the form refuses leads to: the conversation (a GET: Reload does not
    post it again, Back to it is no "Confirm Form Resubmission"), the error on the box once;
    the tab puts back what was typed (drafts.js)."""
    response = post(client, "send", data, phone=phone)
    assert response.status_code == 302
    assert response.location == f"/admin/user/conversation/?id={quote(phone)}"
    page = html.unescape(page_of(client, response.location))
    assert "invalid-feedback" in page or 'data-testid="submission-error"' in page
    again = page_of(client, response.location)
    assert "invalid-feedback" not in again and 'data-testid="submission-error"' not in again
    return page


def asked(client, action: str, data: dict | None = None) -> str:
    """The page a take over or return that asks first leads to: the question is a page of
    its own (a GET), so Back after answering it shows a page, not a resubmission."""
    response = post(client, action, data)
    assert response.status_code == 302
    assert f"ask={action}" in response.location
    return page_of(client, response.location)


def waiting(phone: str = PHONE, **fields) -> User:
    user = make_user(phone, **fields)
    handoff.request_human(user, "keyword")
    db.session.commit()
    return user


def boss() -> StaffUser:
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "boss"))


def test_the_inbox_lists_conversations_by_latest_activity_with_state_holder_and_unread(
    admin_client,
):
    quiet = make_user("+15550100009", last_active=utcnow() - timedelta(days=3))
    waiting()
    handoff.hold_text(db.session.get(User, PHONE))
    held = make_user("+15550100002", last_active=utcnow() - timedelta(days=1))
    handoff.take_over(held, boss())
    db.session.commit()

    page = page_of(admin_client, "/admin/inbox/")
    order = re.findall(r'data-phone="([^"]+)" data-state="([^"]+)"', page)
    assert order == [(PHONE, "waiting"), ("+15550100002", "staff"), (quiet.phone_number, "ai")]
    cells = re.findall(r'data-testid="held-by">([^<]*)<', page)
    assert cells == ["—", "boss", "—"]
    assert re.search(r'data-testid="unread"><span class="badge badge-primary">1<', page)


def test_a_texter_staff_added_who_never_texted_comes_last_in_the_inbox(admin_client):
    """Regression: staff's new texter was dated by their creation (last_active), so they
    came in the inbox as if they had just texted. Now they say "never", after those who
    texted, on both databases (PostgreSQL puts NULLs first in a descending order)."""
    make_user("+15550100001", last_active=None)
    quiet = make_user("+15550100009", last_active=utcnow() - timedelta(days=30))

    page = page_of(admin_client, "/admin/inbox/")

    order = re.findall(r'data-phone="([^"]+)"', page)
    assert order == [quiet.phone_number, "+15550100001"]
    assert re.search(r"<td>never</td>\s*</tr>", page)


def test_the_needs_staff_filter_leaves_out_the_ai_conversations(admin_client):
    make_user("+15550100009")
    waiting()
    page = page_of(admin_client, "/admin/inbox/?show=needs_staff")
    assert re.findall(r'data-phone="([^"]+)"', page) == [PHONE]
    page = page_of(admin_client, "/admin/inbox/?show=ai")
    assert re.findall(r'data-phone="([^"]+)"', page) == ["+15550100009"]


def test_the_menu_counts_the_conversations_waiting(admin_client):
    assert "inbox-badge" not in page_of(admin_client, "/admin/")
    waiting()
    waiting("+15550100002")
    page = page_of(admin_client, "/admin/")
    assert re.search(r'Inbox <span class="badge badge-warning" data-testid="inbox-badge">2<', page)
    assert "<title>Inbox 2 | " in page_of(admin_client, "/admin/inbox/")  # no markup there


def test_the_thread_shows_every_message_with_its_author_status_segments_and_encoding(
    admin_client,
):
    user, author = make_user(PHONE), boss()
    task = make_task(user=user, sms_content="Merci 🙏", status="completed")
    db.session.add_all(
        [
            OutboundMessage(to_number=PHONE, body="Paris.", task=task, kind="reply"),
            OutboundMessage(to_number=PHONE, body="Hi, Ann here.", kind="staff", staff_user=author),
            OutboundMessage(to_number=PHONE, body="Usage...", kind="usage", status="delivered"),
        ]
    )
    db.session.commit()
    page = page_of(admin_client, PAGE)
    authors = re.findall(r'class="sms-author">([^<]+)<', page)
    assert authors == ["texter", "ai", "boss", "system"]
    assert "1 segment, UCS-2" in page and "1 segment, GSM-7" in page
    assert "sms-status-delivered" in page


@pytest.mark.parametrize(
    "page", [PAGE, f"/admin/try-it/?phone={quote(PHONE)}", "/admin/"], ids=str.split
)
def test_times_on_the_thread_and_the_dashboard_say_they_are_utc(admin_client, page):
    """Regression: the conversation, Try it's thread and the dashboard's errors showed bare
    times ("2026-12-05 17:49:41") where the lists and the inbox say "UTC": staff away from
    UTC read them as their own time, hours off from the inbox's."""
    at = utcnow().replace(hour=17, minute=49, second=41)
    task = make_task(user=make_user(PHONE), created_at=at)
    db.session.add(OutboundMessage(to_number=PHONE, body="Paris.", task=task, created_at=at))
    db.session.commit()
    make_error(user_phone=PHONE, timestamp=at)
    shown = page_of(admin_client, page)
    times = re.findall(rf"{at:%Y-%m-%d} 17:49(?::41)?( UTC)?", shown)
    assert times and all(times)


def test_a_whatsapp_text_shows_as_whatsapp_with_the_message_it_replies_to(admin_client):
    make_task(
        user=make_user(PHONE, channel="whatsapp"),
        sms_content="what does this mean?",
        metadata_={
            "our_number": "whatsapp:+15005550006",
            "replying_to": {"text": "Cats purr at <25> Hz.", "ours": True},
        },
    )
    page = page_of(admin_client, PAGE)
    assert "In reply to: Cats purr at &lt;25&gt; Hz." in page
    assert "WhatsApp" in page and "segment" not in page


def test_a_thread_longer_than_the_page_shows_says_where_the_older_messages_are(admin_client):
    """Regression: the page shows a texter's last 100 messages and said nothing of older
    ones, so staff took the 101st text back for the start of the conversation."""
    texter = make_user(PHONE)
    first = utcnow() - timedelta(days=1)
    for number in range(100):
        at = first + timedelta(minutes=number)
        make_task(texter, sms_content=f"Text {number}", created_at=at)
    page = page_of(admin_client, PAGE)
    assert "Text 0" in page and "Only the last" not in page

    make_task(texter, sms_content="Text 100")
    page = html.unescape(page_of(admin_client, PAGE))
    assert "Text 100" in page and ">Text 0<" not in page
    assert "Only the last 100 messages are shown here" in page
    assert f"/admin/task/?search={quote(PHONE)}" in page
    assert f"/admin/outboundmessage/?search={quote(PHONE)}" in page


def test_the_poll_returns_the_thread_and_who_holds_it_as_json(admin_client):
    user = waiting()
    handoff.take_over(user, boss())
    db.session.commit()
    data = admin_client.get(f"/admin/user/conversation/messages/?id={quote(PHONE)}").get_json()
    assert (data["state"], data["held_by"], data["unread"]) == ("staff", "boss", 0)
    assert data["messages"] == []


def test_opening_or_polling_the_conversation_leaves_what_was_held_unread(admin_client):
    """A GET is safe: a browser's prefetch of the page, or a poll from a tab nobody looks
    at, reads nothing away from the inbox."""
    waiting()
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    page_of(admin_client, PAGE)
    data = admin_client.get(f"/admin/user/conversation/messages/?id={quote(PHONE)}").get_json()
    assert data["unread"] == 1
    assert db.session.get(Conversation, PHONE).unread == 1


def test_staff_looking_at_the_conversation_read_what_was_held(admin_client):
    """The page posts "read" once it is on screen (conversation.js), or staff press Mark read."""
    waiting()
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    page = page_of(admin_client, PAGE)
    assert 'data-testid="mark-read"' in page
    assert post(admin_client, "read").status_code == 302
    assert db.session.get(Conversation, PHONE).unread == 0
    assert 'data-testid="mark-read"' not in page_of(admin_client, PAGE)


def test_marking_read_leaves_unread_a_text_held_after_the_page_showed_the_count(admin_client):
    waiting()
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    form = composer(admin_client)  # the page, showing one unread
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    url = f"/admin/user/conversation/read/?id={quote(PHONE)}"
    assert admin_client.post(url, data={**form, "unread": "1"}).status_code == 302
    assert db.session.get(Conversation, PHONE).unread == 1
    for garbage in ("²", "-1", "1e3", "9" * 40):  # not a count the page showed: all read
        assert admin_client.post(url, data={**form, "unread": garbage}).status_code == 302
    assert db.session.get(Conversation, PHONE).unread == 0


def test_returning_to_the_ai_reads_what_was_held_while_staff_had_it(admin_client):
    """Regression: staff who handled a conversation and pressed Return to AI left the texts
    held meanwhile unread, so the inbox showed an AI conversation with unread texts nobody
    was to answer. What the page showed is read; a text held after it, which staff never
    saw, is the AI's to answer (below), so nothing is left unread either."""
    waiting()
    assert post(admin_client, "takeover").status_code == 302
    for _ in range(2):
        handoff.hold_text(db.session.get(User, PHONE))
        db.session.commit()
    shown = shown_unread(admin_client)
    assert shown == "2"
    handoff.hold_text(db.session.get(User, PHONE))  # held after the page showed its count
    db.session.commit()

    assert post(admin_client, "release", {"unread": shown}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "ai"
    assert db.session.get(Conversation, PHONE).unread == 0


def text_in(client, body: str) -> None:
    """A signed SMS from PHONE through the real webhook, its jobs run at once."""
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", inbound_form(body, From=PHONE)).status_code
    db.session.rollback()


def answers() -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).where(OutboundMessage.kind == "reply")
    return db.session.scalars(query).all()


def shown_unread(client) -> str:
    """The unread count the page's Return to AI form carries: what staff were shown."""
    page = page_of(client, PAGE)
    release_form = page[page.index('data-testid="return-to-ai-form"') :].split("</form>")[0]
    return re.search(r'name="unread" value="(\d+)"', release_form).group(1)


def test_a_text_staff_never_saw_is_answered_by_the_ai_once_when_they_hand_back(admin_client):
    """Regression: a text that came after staff last looked, then Return to AI: nobody
    answered it (staff never saw it, the AI took it for context only). Now the AI answers
    it, once however often Return to AI is posted."""
    make_user(PHONE)
    text_in(admin_client, "AGENT")
    assert post(admin_client, "takeover").status_code == 302
    text_in(admin_client, "I need help with my order")
    shown = shown_unread(admin_client)
    assert shown == "1"
    text_in(admin_client, "Are you still there? What is DNS?")  # after staff looked

    form = {**composer(admin_client), "unread": shown}
    url = f"/admin/user/conversation/release/?id={quote(PHONE)}"
    with simulator.jobs_inline():
        assert admin_client.post(url, data=form).status_code == 302
        # staff are told the AI answers the text they never saw, not only the next one
        told = html.unescape(page_of(admin_client, PAGE))
        assert "it is answering the text they sent after you last looked" in told
        assert admin_client.post(url, data=form).status_code == 302  # a double click
        assert "it answers this texter's next text" in html.unescape(page_of(admin_client, PAGE))

    db.session.expire_all()
    [answered] = db.session.scalars(sa.select(Task).where(Task.status == "completed")).all()
    assert answered.sms_content == "Are you still there? What is DNS?"
    assert len(answers()) == 1
    assert db.session.get(User, PHONE).monthly_requests == 1  # counted, as a text answered
    assert db.session.get(Conversation, PHONE).unread == 0
    held = db.session.scalars(sa.select(Task).where(Task.refusal_reason == "held_for_staff"))
    assert [task.sms_content for task in held] == ["I need help with my order"]


def test_two_hand_backs_at_once_queue_the_unseen_text_once(app, admin_client):
    """Two Return to AI posts at once (two tabs, two web processes) take turns on the
    texter's lock: the second finds nothing unread and queues nothing more."""
    make_user(PHONE)
    text_in(admin_client, "AGENT")
    assert post(admin_client, "takeover").status_code == 302
    form = {**composer(admin_client), "unread": shown_unread(admin_client)}
    text_in(admin_client, "What is DNS?")
    url = f"/admin/user/conversation/release/?id={quote(PHONE)}"
    assert post_at_once(app, admin_client, url, form) == [302, 302]
    db.session.expire_all()
    [queued] = db.session.scalars(sa.select(Task).where(Task.status == "queued")).all()
    assert queued.sms_content == "What is DNS?"
    assert db.session.get(User, PHONE).monthly_requests == 1


def test_an_unseen_text_over_the_quota_is_refused_with_its_notice_on_hand_back(app, admin_client):
    """Answered by the AI, the text is held to the quota as one arriving then would be."""
    limit = app.config["QUOTA_FREE"]
    make_user(PHONE, monthly_requests=limit, total_requests=limit)
    text_in(admin_client, "AGENT")
    assert post(admin_client, "takeover").status_code == 302
    form = {"unread": shown_unread(admin_client)}
    text_in(admin_client, "What is DNS?")
    with simulator.jobs_inline():
        assert post(admin_client, "release", form).status_code == 302
    assert "is over a limit" in html.unescape(page_of(admin_client, PAGE))
    db.session.expire_all()
    task = db.session.scalar(sa.select(Task).where(Task.sms_content == "What is DNS?"))
    assert (task.status, task.refusal_reason) == ("refused", "over_quota")
    assert answers() == []
    kinds = db.session.scalars(sa.select(OutboundMessage.kind).order_by(OutboundMessage.created_at))
    assert list(kinds) == ["handoff", "quota"]  # the quota's notice, as on arrival


@pytest.mark.parametrize("gone", ["opted out", "inactive"])
def test_an_unseen_text_of_a_texter_nothing_may_reach_is_not_queued_on_hand_back(
    admin_client, gone
):
    """Regression: a texter who sent a text after staff last looked and then STOP (or was
    made inactive) had it queued for the AI on Return to AI, where it ended unsent; the
    page said the AI was answering it. Nothing is queued and the page says why."""
    make_user(PHONE)
    text_in(admin_client, "AGENT")
    assert post(admin_client, "takeover").status_code == 302
    form = {"unread": shown_unread(admin_client)}
    text_in(admin_client, "What is DNS?")
    if gone == "opted out":
        text_in(admin_client, "STOP")
    else:
        db.session.get(User, PHONE).is_active = False
        db.session.commit()
    with simulator.jobs_inline():
        assert post(admin_client, "release", form).status_code == 302
    told = html.unescape(page_of(admin_client, PAGE))
    assert "it is answering" not in told
    why = "has opted out" if gone == "opted out" else "is inactive"
    assert f"Returned to the AI. Nothing is sent to them: this texter {why}" in told
    db.session.expire_all()
    task = db.session.scalar(sa.select(Task).where(Task.sms_content == "What is DNS?"))
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    assert db.session.get(User, PHONE).monthly_requests == 0
    assert db.session.get(Conversation, PHONE).unread == 0
    assert answers() == []


def test_returning_a_texter_who_opted_out_to_the_ai_does_not_say_it_answers_them(admin_client):
    """Regression: every text seen, Return to AI said "it answers this texter's next text"
    of a texter who had texted STOP, whom nothing reaches until they text START."""
    make_user(PHONE)
    text_in(admin_client, "AGENT")
    text_in(admin_client, "STOP")
    assert post(admin_client, "release", {"unread": "0"}).status_code == 302
    told = html.unescape(page_of(admin_client, PAGE))
    assert "it answers this texter's next text" not in told
    assert "Returned to the AI. Nothing is sent to them: this texter has opted out" in told


def test_texts_staff_saw_are_not_answered_by_the_ai_when_they_hand_back(admin_client):
    make_user(PHONE)
    text_in(admin_client, "AGENT")
    assert post(admin_client, "takeover").status_code == 302
    text_in(admin_client, "I need help with my order")
    with simulator.jobs_inline():
        response = post(admin_client, "release", {"unread": shown_unread(admin_client)})
    assert response.status_code == 302
    assert answers() == []
    assert db.session.get(Conversation, PHONE).unread == 0


def test_marking_read_without_the_form_token_is_refused(admin_client):
    waiting()
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    response = admin_client.post(f"/admin/user/conversation/read/?id={quote(PHONE)}")
    assert response.status_code == 400
    assert db.session.get(Conversation, PHONE).unread == 1


def test_take_over_reply_and_return_to_the_ai(admin_client):
    waiting()
    assert post(admin_client, "takeover").status_code == 302
    assert "You hold this conversation." in page_of(admin_client, PAGE)
    assert db.session.get(User, PHONE).conversation_state == "staff"

    assert post(admin_client, "send", {"message": "Hi, this is Boss."}).status_code == 302
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sent.kind, sent.staff_user.username, sent.body) == (
        "staff",
        "boss",
        "Hi, this is Boss.",
    )
    assert db.session.get(Conversation, PHONE).last_staff_reply_at is not None

    assert post(admin_client, "release").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "ai"
    assert db.session.get(Conversation, PHONE).held_by is None


def test_replying_to_a_waiting_conversation_takes_it(admin_client):
    waiting()
    post(admin_client, "send", {"message": "On it."})
    db.session.expire_all()
    conversation = db.session.get(Conversation, PHONE)
    assert db.session.get(User, PHONE).conversation_state == "staff"
    assert conversation.held_by.username == "boss"


def test_staff_may_text_a_texter_the_ai_is_answering(admin_client):
    make_user(PHONE)
    assert post(admin_client, "send", {"message": "A note from staff."}).status_code == 302
    assert db.session.get(User, PHONE).conversation_state == "ai"
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 1


def test_an_opted_out_texter_is_not_sent_anything_and_staff_are_told_why(admin_client):
    waiting(opted_out_at=utcnow())
    page = refused(admin_client, {"message": "Hello?"})
    assert "Not sent: this texter has opted out (they texted STOP)." in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_an_inactive_texter_is_not_sent_anything_and_staff_are_told_why(admin_client):
    """A deactivated texter gets nothing from the service (answers, notices), staff's texts
    included: staff reactivate them first."""
    waiting(is_active=False)
    page = refused(admin_client, {"message": "Hello?"})
    assert "Not sent: this texter is inactive" in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert db.session.get(User, PHONE).conversation_state == "waiting"


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"is_active": False}, "this texter is inactive (their account is deactivated)"),
        ({"opted_out_at": utcnow()}, "this texter has opted out (they texted STOP)"),
        (
            {"channel": "whatsapp", "last_whatsapp_at": utcnow() - timedelta(days=2)},
            "WhatsApp allows messages only within 24 hours of the texter's last message,"
            " and this texter has not written since",
        ),
    ],
)
def test_the_page_says_before_staff_type_that_texts_to_this_texter_are_refused(
    admin_client, fields, shown
):
    waiting(**fields)
    page = page_of(admin_client, PAGE)
    assert f"Texts to them are refused: {shown}." in html.unescape(page)
    assert re.search(r'data-testid="send" disabled', page)
    assert ('data-testid="inactive"' in page) == ("is_active" in fields)


def test_the_page_of_a_texter_staff_may_text_shows_no_refusal(admin_client):
    waiting()
    page = page_of(admin_client, PAGE)
    assert "Texts to them are refused" not in page and 'data-testid="inactive"' not in page
    assert not re.search(r'data-testid="send" disabled', page)


def test_a_whatsapp_texter_past_its_window_is_not_sent_anything_and_staff_are_told_why(
    admin_client,
):
    waiting(channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(days=2))
    page = refused(admin_client, {"message": "Hello?"})
    assert "Not sent: WhatsApp allows messages only within 24 hours" in page
    assert "they texted STOP" not in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_a_texter_abroad_is_not_sent_anything_and_staff_are_told_why(admin_client):
    abroad = "+442079460958"
    waiting(abroad)
    page = refused(admin_client, {"message": "Hello?"}, phone=abroad)
    assert "Not sent: SMS to GB is not allowed (ALLOWED_COUNTRIES: US)." in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert error.error_type == "validation_error"


def test_an_empty_reply_is_a_field_error(admin_client):
    waiting()
    assert "This field is required." in field_error(admin_client, {"message": ""})


@pytest.mark.parametrize("message", ["   \n  ", "\u200b\u200b"])
def test_a_reply_that_formats_to_nothing_is_a_field_error_and_takes_nothing(admin_client, message):
    waiting()
    page = field_error(admin_client, {"message": message})
    assert "Nothing is left to send after formatting" in page and "Sent." not in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "waiting"
    assert db.session.get(Conversation, PHONE).held_by is None


def test_one_submission_of_the_composer_texts_once_however_often_it_is_posted(admin_client):
    waiting()
    form = {**composer(admin_client), "message": "On it."}
    url = f"/admin/user/conversation/send/?id={quote(PHONE)}"
    assert admin_client.post(url, data=form).status_code == 302
    again = admin_client.post(url, data=form, follow_redirects=True)
    assert "Already sent: this form was submitted before" in again.get_data(as_text=True)
    assert [m.body for m in db.session.scalars(sa.select(OutboundMessage))] == ["On it."]
    # The page then shows a new form, which sends again.
    assert post(admin_client, "send", {"message": "On it."}).status_code == 302
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 2


def test_two_simultaneous_posts_of_one_composer_text_once(app, admin_client, twilio_server):
    """Each post runs in a thread of its own, with its own database connection, as in two
    web processes; Twilio answers slowly, so the second arrives while the first sends."""
    make_user(PHONE)
    form = {**composer(admin_client), "message": "Sorry for the wait."}
    url = f"/admin/user/conversation/send/?id={quote(PHONE)}"
    twilio_server.delay = 0.5
    statuses = post_at_once(app, admin_client, url, form)
    assert statuses == [302, 302]
    db.session.expire_all()
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 1
    assert len(twilio_server.requests) == 1


def test_a_reply_typed_on_a_page_open_for_hours_is_sent(admin_client):
    waiting()
    form = {**composer(admin_client), "message": "Still here, sorry for the wait."}
    five_hours_later = time.time() + 5 * 3600
    url = f"/admin/user/conversation/send/?id={quote(PHONE)}"
    with mock.patch("itsdangerous.timed.time.time", return_value=five_hours_later):
        response = admin_client.post(url, data=form)
    assert response.status_code == 302
    assert [m.body for m in db.session.scalars(sa.select(OutboundMessage))] == [
        "Still here, sorry for the wait."
    ]


def test_a_reply_as_long_as_the_composer_allows_is_sent_line_breaks_and_all(admin_client):
    """The composer stops at 1,600 characters, a line break counting one, as its counter
    does; the browser sends each as two (CR LF), which made a full one "too long"."""
    make_user(PHONE, tier="enterprise")
    typed = ("y" * 79 + "\n") * 20
    response = post(admin_client, "send", {"message": typed.replace("\n", "\r\n")})
    assert response.status_code == 302
    sent = db.session.scalars(sa.select(OutboundMessage.body).order_by(OutboundMessage.part))
    assert "".join(sent) == typed.rstrip("\n")


def test_a_composer_without_its_submission_key_sends_nothing(admin_client):
    waiting()
    page = field_error(admin_client, {"message": "Hello", "submission": ""})
    assert "This form is out of date: press Send again." in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def confirmation(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's "anyway?" form, as a browser would post them."""
    form = re.search(rf'data-testid="confirm-{action}".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_taking_over_what_another_holds_asks_first(admin_client):
    ann = staff_account("ann", is_admin=True)
    user = waiting()
    handoff.take_over(user, ann)
    db.session.commit()

    page = asked(admin_client, "takeover")
    assert "ann is handling this conversation. Take it over anyway?" in page
    assert "Held by ann." in page
    assert db.session.get(Conversation, PHONE).held_by.username == "ann"

    assert post(admin_client, "takeover", confirmation(page, "takeover")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Conversation, PHONE).held_by.username == "boss"


def test_returning_to_the_ai_what_another_holds_asks_first(admin_client):
    """Regression: Return to AI took a conversation from another staff member unasked."""
    ann = staff_account("ann", is_admin=True)
    user = waiting()
    handoff.take_over(user, ann)
    db.session.commit()

    page = asked(admin_client, "release")
    assert "ann is handling this conversation. Return it to the AI anyway?" in page
    assert 'data-testid="confirm-release"' in page
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "staff"
    assert db.session.get(Conversation, PHONE).held_by.username == "ann"

    assert post(admin_client, "release", confirmation(page, "release")).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "ai"


@pytest.mark.parametrize("action", ["takeover", "release"])
def test_a_confirmation_naming_a_holder_who_has_since_changed_asks_again(admin_client, action):
    """Asked "ann is handling this conversation. ...anyway?", the staff member agreed to
    override ann; carol took it meanwhile, so carol's hold is not overridden unasked."""
    ann = staff_account("ann", is_admin=True)
    carol = staff_account("carol", is_admin=True)
    user = waiting()
    handoff.take_over(user, ann)
    db.session.commit()
    first = asked(admin_client, action)
    assert "ann is handling this conversation." in first

    handoff.take_over(db.session.get(User, PHONE), carol, force=True)
    db.session.commit()
    page = asked(admin_client, action, confirmation(first, action))

    assert "carol took this conversation over since you were asked" in page
    assert f'data-testid="confirm-{action}"' in page
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "staff"
    assert db.session.get(Conversation, PHONE).held_by.username == "carol"
    # Confirmed again, now naming carol, it goes through.
    assert post(admin_client, action, confirmation(page, action)).status_code == 302


def test_the_question_reopened_after_the_holder_let_go_asks_nothing(admin_client):
    """Back (or a bookmark) to the "anyway?" page once nobody else holds the conversation
    shows the page without the question."""
    ann = staff_account("ann", is_admin=True)
    handoff.take_over(waiting(), ann)
    db.session.commit()
    assert "Take it over anyway?" in asked(admin_client, "takeover")
    handoff.release(db.session.get(User, PHONE), ann)
    db.session.commit()
    page = page_of(admin_client, PAGE + "&ask=takeover")
    assert "anyway?" not in page and 'data-testid="confirm-takeover"' not in page


@pytest.mark.parametrize("holder", ["boss", None], ids=["held by me", "waiting"])
def test_returning_to_the_ai_what_nobody_else_holds_asks_nothing(admin_client, holder):
    user = waiting()
    if holder:
        handoff.take_over(user, boss())
        db.session.commit()
    assert post(admin_client, "release").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "ai"


def test_the_composer_measures_what_the_text_becomes(admin_client):
    make_user(PHONE)
    token = csrf_for(admin_client, PAGE)
    url = f"/admin/user/conversation/measure/?id={quote(PHONE)}"
    headers = {"X-CSRFToken": token}
    gsm = admin_client.post(url, data={"message": "Hello there"}, headers=headers).get_json()
    assert (gsm["segments"], gsm["encoding"], gsm["parts"]) == (1, "GSM-7", 1)
    emoji = admin_client.post(url, data={"message": "Merci 🙏"}, headers=headers).get_json()
    assert (emoji["segments"], emoji["encoding"]) == (1, "GSM-7")  # the emoji is dropped
    chinese = admin_client.post(url, data={"message": "你好"}, headers=headers).get_json()
    assert (chinese["segments"], chinese["encoding"]) == (1, "UCS-2")
    long = admin_client.post(url, data={"message": "word " * 200}, headers=headers).get_json()
    assert long["segments"] == 3 and long["shortened"] is True  # the free plan's budget


def test_the_composer_measures_a_whatsapp_text_as_whatsapp_sends_it(admin_client):
    """WhatsApp has no segments and keeps emoji and letters (UTF-8): the composer said
    "3 segments · UCS-2" of a reply that goes out as one WhatsApp message."""
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow())
    url = f"/admin/user/conversation/measure/?id={quote(PHONE)}"
    headers = {"X-CSRFToken": csrf_for(admin_client, PAGE)}
    reply = "Merci 🙏 " + "你好 " * 60
    measured = admin_client.post(url, data={"message": reply}, headers=headers).get_json()
    assert (measured["parts"], measured["segments"], measured["encoding"]) == (1, 1, "UTF-8")


def test_a_whatsapp_reply_longer_than_one_message_is_refused_not_cut(admin_client):
    """Regression: a staff reply's limit was 1,600 characters on any channel, but a WhatsApp
    reply goes as one message, whose Body Twilio takes up to 1,600 as it counts them (an
    emoji is two, outbound/channels.py): 1,560 characters with 60 emoji passed the form and
    the texter got the first 1,500 or so and "...". The limit now follows the texter's
    channel, counted as that channel's sending counts it."""
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow())
    reply = "Your order 📦 ships today. " * 60  # 1,560 characters, 1,620 as Twilio counts
    url = f"/admin/user/conversation/measure/?id={quote(PHONE)}"
    headers = {"X-CSRFToken": csrf_for(admin_client, PAGE)}
    measured = admin_client.post(url, data={"message": reply}, headers=headers).get_json()
    assert (measured["characters"], measured["too_long"], measured["most"]) == (1620, True, 1600)

    page = field_error(admin_client, {"message": reply})
    assert "longer than 1600 characters as WhatsApp counts them" in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    fits = reply[: -len("Your order 📦 ships today. ")]  # 1,593 as Twilio counts
    assert post(admin_client, "send", {"message": fits}).status_code == 302
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert sent.body == fits.strip()


@pytest.mark.parametrize(
    "message", ["**Bold** reply", "Two  spaces", "Merci 🙏", "```\nprint(1)\n```", "word " * 20]
)
def test_the_composer_says_it_will_cut_only_what_the_plan_cuts(admin_client, message):
    """Markdown, emoji and extra spaces are dropped from any text: "too long for this
    texter's plan: it will be cut" was said of a short reply with any of them."""
    make_user(PHONE)
    url = f"/admin/user/conversation/measure/?id={quote(PHONE)}"
    headers = {"X-CSRFToken": csrf_for(admin_client, PAGE)}
    measured = admin_client.post(url, data={"message": message}, headers=headers).get_json()
    assert measured["parts"] == 1 and measured["shortened"] is False


@pytest.fixture
def reader(client):
    staff_account("reader", is_admin=False)
    assert log_in(client, "reader").status_code == 302
    return client


def test_read_only_staff_read_the_inbox_and_the_thread_but_act_on_nothing(reader):
    user = waiting()
    handoff.hold_text(user)
    db.session.commit()
    assert PHONE in page_of(reader, "/admin/inbox/")
    page = page_of(reader, PAGE)
    assert 'data-testid="composer"' not in page and 'data-testid="take-over"' not in page
    assert db.session.get(Conversation, PHONE).unread == 1  # an observer reads nothing away
    for action, data in [
        ("read", {}),
        ("takeover", {}),
        ("release", {}),
        ("send", {"message": "hi"}),
        ("measure", {"message": "hi"}),
    ]:
        assert post(reader, action, data).status_code == 403
    assert db.session.get(User, PHONE).conversation_state == "waiting"
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


@pytest.mark.parametrize("action", ["send", "takeover", "release", "read"])
def test_acting_on_a_texter_deleted_while_the_page_was_open_says_they_are_gone(
    admin_client, action
):
    """Regression: a reply, Take over, Return to AI or Mark read (the button of a browser
    without JavaScript) posted from a page whose texter was deleted meanwhile got a bare
    "Not Found" page, and the reply typed was lost unexplained."""
    user = make_user(PHONE)
    form = {**composer(admin_client), "message": "Still there?"}
    db.session.delete(user)
    db.session.commit()
    url = f"/admin/user/conversation/{action}/?id={quote(PHONE)}"
    response = admin_client.post(url, data=form, follow_redirects=True)
    assert response.status_code == 200
    assert f"No texter {PHONE}: deleted" in html.unescape(response.get_data(as_text=True))
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


@pytest.mark.parametrize("action", ["send", "takeover", "release", "read"])
def test_a_page_opened_for_a_deleted_texter_acts_on_nobody_who_has_their_number_now(
    admin_client, action
):
    """Regression: a page left open while its texter was deleted and their number came back
    as someone else (a new text, staff adding it) sent the reply written to the first to
    the second, and took over, handed back or read their conversation. Each form names
    the texter it was drawn for; nothing is done, and staff see the new conversation."""
    make_user(PHONE, full_name="First Texter")
    page = page_of(admin_client, PAGE)
    form = {**composer(admin_client), "message": "Your account 4471 is closed."}
    [url] = re.findall(rf'action="(/admin/user/conversation/{action}/[^"]+)"', page)[:1]
    db.session.delete(db.session.get(User, PHONE))
    db.session.commit()
    waiting(full_name="Someone Else")
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()

    response = admin_client.post(html.unescape(url), data=form)
    assert response.status_code == 302 and response.location == PAGE
    told = html.unescape(page_of(admin_client, PAGE))
    assert f"the texter this page was opened for was deleted, and {PHONE} is someone" in told
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert db.session.get(User, PHONE).conversation_state == "waiting"
    assert db.session.get(Conversation, PHONE).unread == 1


def test_a_reply_holding_a_nul_is_sent_back_to_the_composer_saying_why(admin_client):
    """Regression: a reply pasted with a NUL in it got a bare "Bad Request" page, and the
    reply typed was lost; the composer now says why (the tab puts the text back, drafts.js,
    without the NUL)."""
    make_user(PHONE)
    page = field_error(admin_client, {"message": "On\x00 it."})
    assert 'data-testid="composer"' in page and "NUL character" in page
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


@pytest.mark.parametrize("written", ["+15550100001", " 15550100001", "(555) 010-0001"])
def test_a_conversation_address_with_the_number_written_another_way_finds_the_texter(
    admin_client, written
):
    """Regression: an address typed or pasted by hand with a bare "+" (which a URL reads as
    a space) or another notation said "No texter  15550100001: deleted, perhaps while the
    page was open", of a texter who was there all along."""
    make_user(PHONE)
    response = admin_client.get("/admin/user/conversation/", query_string={"id": written})
    assert response.status_code == 200
    assert f"Conversation with {PHONE}" in response.get_data(as_text=True)


def test_the_page_says_before_staff_type_that_texts_abroad_are_refused(admin_client):
    """Regression: the page of a texter outside ALLOWED_COUNTRIES offered Send as for anyone,
    and staff learned only from the refusal after typing their reply."""
    abroad = "+442079460958"
    waiting(abroad)
    refused = "Texts to them are refused: SMS to GB is not allowed (ALLOWED_COUNTRIES: US)."
    page = page_of(admin_client, f"/admin/user/conversation/?id={quote(abroad)}")
    assert refused in html.unescape(page)
    assert re.search(r'data-testid="send" disabled', page)
    poll = admin_client.get(f"/admin/user/conversation/messages/?id={quote(abroad)}")
    assert poll.get_json()["cannot_text"] == refused
    assert db.session.scalars(sa.select(ErrorLog)).all() == []  # looking is no failed send


def test_no_texter_shows_a_direction_mark_in_the_address_as_its_escape(admin_client):
    """Regression: "No texter {id}" echoed a U+200F from the address raw, which turned the
    sentence around it; it is written as its escape, as every page writes one."""
    response = admin_client.get(
        "/admin/user/conversation/", query_string={"id": "\u200f+15550109999"}
    )
    told = html.unescape(page_of(admin_client, response.location))
    assert "No texter \\u200f+15550109999: deleted" in told
    assert "\u200f" not in told


def test_the_inbox_marks_an_inactive_texter(admin_client):
    """Regression: the Inbox marked a texter who opted out but not one staff made inactive,
    whose texts are refused alike."""
    make_user(PHONE, is_active=False)
    make_user("+15550100002")
    page = page_of(admin_client, "/admin/inbox/")
    row = re.search(rf'<tr data-phone="\{PHONE}".*?</tr>', page, re.S).group(0)
    assert 'data-testid="inactive"' in row
    assert page.count('data-testid="inactive"') == 1


def texted(client, body: str, phone: str = PHONE) -> None:
    """An SMS from `phone` through the real, signed webhook."""
    with simulator.jobs_inline():
        assert (
            signed_post(client, "/sms/inbound", inbound_form(body, From=phone)).status_code == 200
        )
    db.session.rollback()


def test_the_page_says_why_a_conversation_waits_and_why_nothing_may_be_sent(admin_client):
    """Regression: a texter's AGENT and STOP are kept as no text of the thread (their words
    are not stored), so the page showed "waiting" and "opted out" with nothing saying
    who asked for a person, or when the texter opted out. It says both, with the time."""
    make_user(PHONE)
    texted(admin_client, "AGENT")
    page = html.unescape(page_of(admin_client, PAGE))
    asked_at = db.session.get(Conversation, PHONE).requested_at
    said = f"They asked for a person by text at {asked_at:%Y-%m-%d %H:%M:%S} UTC."
    assert said in page
    texted(admin_client, "STOP")
    page = html.unescape(page_of(admin_client, PAGE))
    stopped_at = db.session.get(User, PHONE).opted_out_at
    assert f"They opted out (texted STOP) at {stopped_at:%Y-%m-%d %H:%M:%S} UTC." in page
    poll = admin_client.get(f"/admin/user/conversation/messages/?id={quote(PHONE)}").get_json()
    assert poll["why"] == [
        said,
        f"They opted out (texted STOP) at {stopped_at:%Y-%m-%d %H:%M:%S} UTC.",
    ]


def test_the_page_says_when_the_ai_asked_for_a_person(admin_client):
    user = make_user(PHONE)
    handoff.request_human(user, "model")
    db.session.commit()
    asked_at = db.session.get(Conversation, PHONE).requested_at
    page = html.unescape(page_of(admin_client, PAGE))
    assert f"The AI asked for a person for them at {asked_at:%Y-%m-%d %H:%M:%S} UTC." in page
    # The state's own line said "the texter asked for a person" of the AI's request too.
    assert "the texter asked for a person" not in page


def test_a_texter_who_texts_stop_while_waiting_still_waits_marked_opted_out(admin_client):
    """Decision: STOP, START and HELP change no conversation's state (after START the texter
    still waits for the person they asked for); the Inbox marks them *opted out* and the
    page says when, so staff see why nothing may be sent (README, Inbox)."""
    make_user(PHONE)
    texted(admin_client, "AGENT")
    texted(admin_client, "STOP")
    page = page_of(admin_client, "/admin/inbox/?show=waiting")
    row = re.search(rf'<tr data-phone="\{PHONE}" data-state="waiting">.*?</tr>', page, re.S)
    assert row and 'data-testid="opted-out"' in row.group(0)
