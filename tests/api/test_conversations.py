"""/api/conversations/, a texter's messages, takeover, release and staff messages."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent import handoff, simulator
from sms_agent.extensions import db
from sms_agent.models import Conversation, OutboundMessage, Task, User, utcnow
from tests.api.conftest import TEXTER_PHONE
from tests.factories import make_staff, make_task, make_user

PHONE = "+15550201111"
BASE = f"/api/users/{quote(PHONE)}/"


def waiting(phone: str = PHONE, **fields) -> User:
    user = make_user(phone, **fields)
    handoff.request_human(user, "keyword")
    db.session.commit()
    return user


def test_conversations_list_state_holder_activity_and_unread(client, admin_headers, admin):
    make_user("+15550201112", last_active=utcnow() - timedelta(days=2))
    user = waiting()
    handoff.hold_text(user)
    db.session.commit()
    body = client.get("/api/conversations/", headers=admin_headers).get_json()
    assert body["count"] == 2 and body["next"] is None
    first, second = body["results"]
    assert (first["user_phone"], first["state"], first["held_by"], first["unread"]) == (
        PHONE,
        "waiting",
        None,
        1,
    )
    assert (second["state"], second["unread"]) == ("ai", 0)
    assert set(first) == {"user_phone", "state", "held_by", "last_message_at", "unread"}


def test_a_texter_never_in_touch_has_no_last_message_and_comes_last(client, admin_headers):
    """Regression: a texter staff added had their creation as their latest activity; now
    null, listed after those who texted on both databases."""
    make_user("+15550201113", last_active=None)
    make_user("+15550201112", last_active=utcnow() - timedelta(days=2))

    body = client.get("/api/conversations/", headers=admin_headers).get_json()

    assert [(row["user_phone"], row["last_message_at"] is None) for row in body["results"]] == [
        ("+15550201112", False),
        ("+15550201113", True),
    ]


@pytest.mark.parametrize("state,expected", [("waiting", [PHONE]), ("ai", ["+15550201112"])])
def test_conversations_filter_by_state(client, admin_headers, state, expected):
    make_user("+15550201112")
    waiting()
    body = client.get(f"/api/conversations/?state={state}", headers=admin_headers).get_json()
    assert [row["user_phone"] for row in body["results"]] == expected


def test_an_unknown_state_is_a_400(client, admin_headers):
    response = client.get("/api/conversations/?state=lost", headers=admin_headers)
    assert response.status_code == 400 and "state" in response.get_json()["details"]


def test_conversations_are_paginated_like_the_other_lists(client, admin_headers):
    for n in range(3):
        make_user(f"+1555020120{n}")
    body = client.get("/api/conversations/?page_size=2", headers=admin_headers).get_json()
    assert body["count"] == 3 and len(body["results"]) == 2 and "page=2" in body["next"]


def test_messages_both_ways_with_author_status_segments_and_encoding(client, admin_headers, admin):
    user = make_user(PHONE)
    task = make_task(user=user, sms_content="Hi 🙂", created_at=utcnow() - timedelta(minutes=2))
    db.session.add_all(
        [
            OutboundMessage(
                to_number=PHONE,
                body="Hello!",
                task=task,
                kind="reply",
                created_at=utcnow() - timedelta(minutes=1),
            ),
            OutboundMessage(to_number=PHONE, body="Staff here.", kind="api", staff_user=admin),
        ]
    )
    db.session.commit()
    body = client.get(BASE + "messages/", headers=admin_headers).get_json()
    rows = [
        (m["direction"], m["author"], m["body"], m["segments"], m["encoding"])
        for m in body["results"]
    ]
    assert rows == [
        ("in", "texter", "Hi 🙂", 1, "UCS-2"),
        ("out", "ai", "Hello!", 1, "GSM-7"),
        ("out", "admin", "Staff here.", 1, "GSM-7"),
    ]
    assert body["results"][0]["status"] == "queued"


def test_a_whatsapp_message_has_an_encoding_the_document_describes(client, admin_headers):
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow())
    sent = client.post(BASE + "send_message/", json={"message": "Hi"}, headers=admin_headers)
    assert sent.status_code == 200
    [message] = client.get(BASE + "messages/", headers=admin_headers).get_json()["results"]
    document = client.get("/api/openapi.json").get_json()
    described = document["components"]["schemas"]["MessageOut"]["properties"]["encoding"]
    assert message["encoding"] in described["enum"]


def test_pages_hold_the_newest_messages_first_oldest_first_within(client, admin_headers):
    user = make_user(PHONE)
    start = utcnow() - timedelta(hours=1)
    for n in range(5):
        make_task(user=user, sms_content=f"text {n}", created_at=start + timedelta(minutes=n))
    page1 = client.get(BASE + "messages/?page_size=2", headers=admin_headers).get_json()
    page2 = client.get(BASE + "messages/?page_size=2&page=2", headers=admin_headers).get_json()
    assert [m["body"] for m in page1["results"]] == ["text 3", "text 4"]
    assert [m["body"] for m in page2["results"]] == ["text 1", "text 2"]


def test_after_polls_for_the_later_messages_oldest_first(client, admin_headers):
    user = make_user(PHONE)
    start = utcnow() - timedelta(hours=1)
    for n in range(4):
        make_task(user=user, sms_content=f"text {n}", created_at=start + timedelta(minutes=n))
    after = quote((start + timedelta(minutes=1)).isoformat())
    body = client.get(BASE + f"messages/?after={after}&page_size=1", headers=admin_headers)
    assert [m["body"] for m in body.get_json()["results"]] == ["text 2"]
    assert body.get_json()["count"] == 2


def test_a_bad_after_is_a_400(client, admin_headers):
    make_user(PHONE)
    response = client.get(BASE + "messages/?after=yesterday", headers=admin_headers)
    assert response.status_code == 400 and "after" in response.get_json()["details"]


def test_a_texter_reads_its_own_messages_and_nobody_elses(client, texter, texter_headers):
    make_task(user=texter, sms_content="mine")
    make_task(user=make_user(PHONE), sms_content="theirs")
    own = client.get(f"/api/users/{quote(TEXTER_PHONE)}/messages/", headers=texter_headers)
    assert [m["body"] for m in own.get_json()["results"]] == ["mine"]
    assert client.get(BASE + "messages/", headers=texter_headers).status_code == 404
    listed = client.get("/api/conversations/", headers=texter_headers).get_json()
    assert [row["user_phone"] for row in listed["results"]] == [TEXTER_PHONE]


def test_a_texter_reads_staff_messages_and_holder_as_staff_not_by_login(
    client, texter, texter_headers, admin_headers, admin
):
    handoff.take_over(texter, admin)
    handoff.send_as_staff(texter, "Hi, a person here.", admin, kind="api")
    db.session.commit()
    messages = f"/api/users/{quote(TEXTER_PHONE)}/messages/"

    [own] = client.get(messages, headers=texter_headers).get_json()["results"]
    assert (own["author"], own["author_kind"]) == ("staff", "staff")
    [listed] = client.get("/api/conversations/", headers=texter_headers).get_json()["results"]
    assert (listed["state"], listed["held_by"]) == ("staff", "staff")

    [seen] = client.get(messages, headers=admin_headers).get_json()["results"]
    assert (seen["author"], seen["author_kind"]) == ("admin", "staff")
    [held] = client.get("/api/conversations/", headers=admin_headers).get_json()["results"]
    assert held["held_by"] == "admin"


def test_takeover_and_release(client, admin_headers):
    waiting()
    response = client.post(BASE + "takeover/", json={}, headers=admin_headers)
    assert response.status_code == 200
    assert (response.get_json()["state"], response.get_json()["held_by"]) == ("staff", "admin")
    response = client.post(BASE + "release/", json={}, headers=admin_headers)
    assert (response.get_json()["state"], response.get_json()["held_by"]) == ("ai", None)
    assert db.session.get(User, PHONE).conversation_state == "ai"


def test_taking_over_what_another_holds_is_a_409_unless_forced(client, admin_headers):
    user = waiting()
    handoff.take_over(user, make_staff("ann", is_admin=True))
    db.session.commit()
    response = client.post(BASE + "takeover/", json={}, headers=admin_headers)
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "ann is handling this conversation.",
        "details": {"held_by": "ann"},
    }
    forced = client.post(BASE + "takeover/", json={"force": True}, headers=admin_headers)
    assert forced.status_code == 200 and forced.get_json()["held_by"] == "admin"


def test_releasing_what_another_took_meanwhile_is_a_409_unless_forced(client, admin_headers):
    """The caller took the conversation, then ann took it over: the caller's release, sent
    with what it saw, must not hand ann's conversation to the AI behind her back."""
    waiting()
    client.post(BASE + "takeover/", json={}, headers=admin_headers)
    handoff.take_over(db.session.get(User, PHONE), make_staff("ann"), force=True)
    db.session.commit()

    response = client.post(BASE + "release/", json={}, headers=admin_headers)

    assert response.status_code == 409
    assert response.get_json() == {
        "error": "ann is handling this conversation.",
        "details": {"held_by": "ann"},
    }
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "staff"
    forced = client.post(BASE + "release/", json={"force": True}, headers=admin_headers)
    assert (forced.status_code, forced.get_json()["state"]) == (200, "ai")


def test_takeover_wants_a_json_body(client, admin_headers):
    waiting()
    assert client.post(BASE + "takeover/", headers=admin_headers).status_code == 415
    response = client.post(BASE + "takeover/", json={"force": "maybe"}, headers=admin_headers)
    assert response.status_code == 400 and "force" in response.get_json()["details"]


def test_send_message_records_the_staff_author_and_works_in_every_state(client, admin_headers):
    user = waiting()
    response = client.post(BASE + "send_message/", json={"message": "Hi"}, headers=admin_headers)
    assert response.status_code == 200
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sent.kind, sent.staff_user.username) == ("api", "admin")
    db.session.refresh(user)
    assert user.conversation_state == "staff"  # the reply took the waiting conversation
    handoff.release(user)
    db.session.commit()
    again = client.post(BASE + "send_message/", json={"message": "Hi"}, headers=admin_headers)
    assert again.status_code == 200 and db.session.get(User, PHONE).conversation_state == "ai"


def held_twice() -> User:
    user = waiting()
    for _ in range(2):
        handoff.hold_text(user)
        db.session.commit()
    return user


def test_reading_a_thread_through_the_api_leaves_its_texts_unread(client, admin_headers):
    """GETs are safe: a monitoring script or a prefetch changes nothing staff see."""
    held_twice()
    for url in (BASE + "messages/", BASE, "/api/conversations/", BASE + "export/"):
        assert client.get(url, headers=admin_headers).status_code == 200
    assert db.session.get(Conversation, PHONE).unread == 2


def test_marking_a_conversation_read_empties_its_unread_count(client, admin_headers):
    held_twice()
    response = client.post(BASE + "read/", json={}, headers=admin_headers)
    assert response.status_code == 200
    assert (response.get_json()["user_phone"], response.get_json()["unread"]) == (PHONE, 0)
    assert db.session.get(Conversation, PHONE).unread == 0
    again = client.post(BASE + "read/", json={}, headers=admin_headers)
    assert again.status_code == 200 and again.get_json()["unread"] == 0


def test_marking_read_leaves_unread_the_texts_held_since_the_caller_looked(client, admin_headers):
    """The caller says how many unread texts it was shown; one held after that stays unread."""
    user = waiting()
    handoff.hold_text(user)
    db.session.commit()
    [shown] = client.get("/api/conversations/", headers=admin_headers).get_json()["results"]
    handoff.hold_text(db.session.get(User, PHONE))  # arrives while the caller reads
    db.session.commit()
    body = {"unread": shown["unread"]}
    response = client.post(BASE + "read/", json=body, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["unread"] == 1
    assert db.session.get(Conversation, PHONE).unread == 1
    for wrong in (-1, 1.5, 1e-9, "1", True):
        bad = client.post(BASE + "read/", json={"unread": wrong}, headers=admin_headers)
        assert bad.status_code == 400 and "unread" in bad.get_json()["details"], wrong


def test_releasing_reads_what_was_held_while_staff_had_it(client, admin_headers):
    """Staff who hand a conversation back have handled what was held for them: the `unread`
    they were shown is read (all of it without one), as read/ reads it; one held after the
    caller looked is the AI's to answer (below), so none is left unread."""
    held_twice()
    handoff.hold_text(db.session.get(User, PHONE))  # held after the caller looked
    db.session.commit()
    body = {"unread": 2}
    response = client.post(BASE + "release/", json=body, headers=admin_headers)
    assert response.status_code == 200
    assert (response.get_json()["state"], response.get_json()["unread"]) == ("ai", 0)
    handoff.request_human(db.session.get(User, PHONE), "keyword")
    handoff.hold_text(db.session.get(User, PHONE))
    db.session.commit()
    response = client.post(BASE + "release/", json={}, headers=admin_headers)
    assert (response.get_json()["state"], response.get_json()["unread"]) == ("ai", 0)
    bad = client.post(BASE + "release/", json={"unread": -1}, headers=admin_headers)
    assert bad.status_code == 400 and "unread" in bad.get_json()["details"]


def test_a_text_held_after_the_caller_looked_is_answered_by_the_ai_on_release(
    client, admin_headers
):
    """The texter wrote after the caller was shown the thread: handed back, the AI answers
    that text (once: a repeated release finds nothing left to answer)."""
    user = waiting()
    for text in ("Hello?", "What is DNS?"):
        make_task(user, sms_content=text, status="refused", refusal_reason="held_for_staff")
        handoff.hold_text(user)
        db.session.commit()
    with simulator.jobs_inline():
        for _ in range(2):
            response = client.post(BASE + "release/", json={"unread": 1}, headers=admin_headers)
            assert response.status_code == 200 and response.get_json()["unread"] == 0
    db.session.expire_all()
    answered = db.session.scalars(sa.select(Task).where(Task.status == "completed")).all()
    assert [task.sms_content for task in answered] == ["What is DNS?"]
    assert [m.kind for m in db.session.scalars(sa.select(OutboundMessage))] == ["reply"]


def test_marking_read_a_texter_never_held_for_staff_is_a_no_op(client, admin_headers):
    make_user(PHONE)
    response = client.post(BASE + "read/", json={}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["unread"] == 0
    nobody = client.post("/api/users/%2B15550209998/read/", json={}, headers=admin_headers)
    assert nobody.status_code == 404


@pytest.mark.parametrize("path", ["takeover/", "release/", "send_message/", "read/"])
def test_read_only_staff_and_texters_may_not_act(
    client, reader_headers, texter, texter_headers, path
):
    waiting()
    body = {"message": "hi"} if path == "send_message/" else {}
    assert client.post(BASE + path, json=body, headers=reader_headers).status_code == 403
    own = f"/api/users/{quote(TEXTER_PHONE)}/{path}"
    assert client.post(own, json=body, headers=texter_headers).status_code == 403
    assert db.session.get(User, PHONE).conversation_state == "waiting"


@pytest.mark.parametrize("message", ["   ", "\u200b\u200b", "\u200b \n\u200d"])
def test_a_message_that_formats_to_nothing_is_a_400_and_changes_nothing(
    client, admin_headers, message
):
    waiting()
    before = handoff.find(PHONE).staff_clock_at
    response = client.post(BASE + "send_message/", json={"message": message}, headers=admin_headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid input."
    # Regression: it said "emoji ... are removed", while a message of emoji alone is sent.
    assert body["details"]["message"] == [
        "Nothing is left to send after formatting: the message is only spaces or invisible "
        "characters, so write some text (emoji alone are sent as written)."
    ]
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    db.session.expire_all()
    assert db.session.get(User, PHONE).conversation_state == "waiting"
    assert handoff.find(PHONE).held_by is None and handoff.find(PHONE).staff_clock_at == before


def test_a_message_of_only_emoji_is_sent_as_written(client, admin_headers):
    """Emoji are dropped beside words (they cost a UCS-2 SMS), but alone they are the
    message (outbound/emoji.py), as they are in a model's answer."""
    waiting()
    response = client.post(BASE + "send_message/", json={"message": "👍"}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["messages"] == 1
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sent.body, sent.encoding) == ("👍", "UCS-2")
