"""Twilio may report a message before its answer to our send reaches us: the callback is
another request, on another database connection, so every sender (not only the pipeline's
answers) must have the message committed before Twilio sees it, or the report is lost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import handoff, jobs
from sms_agent.extensions import db
from sms_agent.models import HandledMessage, OutboundMessage, TaskStatus, User
from tests.api.conftest import token_header
from tests.factories import make_staff, make_task, make_token, make_user
from tests.standins import inbound_form, signed_post, twilio_error, twilio_message

PHONE = "+15551230000"
INBOUND_SID = "SM" + "1" * 32


@pytest.fixture
def reporting_early(app, twilio_server):
    """The Twilio stand-in posts each message's `delivered` report to our webhook, through
    a request of its own, before it answers the send; the answers of the webhook."""
    app.config["PUBLIC_BASE_URL"] = "http://localhost"
    answer, reported = twilio_server.default, []

    def report_then_answer(method, path, body):
        reply = answer(method, path, body)
        if method == "POST":
            callback = body["StatusCallback"].removeprefix("http://localhost")
            form = {
                "MessageSid": reply[1]["sid"],
                "MessageStatus": "delivered",
                "AccountSid": "AC" + "0" * 32,
            }
            with app.app_context():  # another request, another session and connection
                reported.append(signed_post(app.test_client(), callback, form).status_code)
                db.session.remove()
        return reply

    twilio_server.default = report_then_answer
    return reported


def statuses(kind: str) -> list[str]:
    db.session.rollback()
    query = sa.select(OutboundMessage.status).where(OutboundMessage.kind == kind)
    return list(db.session.scalars(query.order_by(OutboundMessage.part)))


def test_a_staff_reply_from_the_inbox_is_reported_before_twilio_answers(app, reporting_early):
    user = make_user(PHONE, tier="enterprise")
    handoff.send_as_staff(user, "A sentence that runs on. " * 80, make_staff("ann"))
    db.session.commit()
    assert len(reporting_early) == len(statuses("staff")) > 1
    assert set(statuses("staff")) == {"delivered"}


def test_an_api_send_is_reported_before_twilio_answers(app, client, reporting_early):
    make_user(PHONE)
    headers = {**token_header(make_token(make_staff("admin", is_admin=True)))}
    headers["Idempotency-Key"] = "early-report"
    url = "/api/users/%2B15551230000/send_message/"
    assert client.post(url, json={"message": "hello"}, headers=headers).status_code == 200
    assert client.post(url, json={"message": "hello"}, headers=headers).status_code == 409
    assert statuses("api") == ["delivered"]


def test_more_is_reported_before_twilio_answers(app, reporting_early):
    user = make_user(PHONE)
    make_task(
        user,
        status=TaskStatus.COMPLETED.value,
        ai_response="Paris.",
        metadata_={"sent": "Paris.", "more": "It is the capital.", "more_channel": "sms"},
    )
    assert jobs.send_notice(PHONE, "more", INBOUND_SID) is True
    assert statuses("more") == ["delivered"]


def test_a_keyword_notice_is_reported_before_twilio_answers(app, reporting_early):
    make_user(PHONE)
    assert jobs.send_notice(PHONE, "help", INBOUND_SID) is True
    assert statuses("help") == ["delivered"]


def test_a_new_texters_notice_and_program_notice_are_both_reported(app, reporting_early):
    make_user(PHONE, service_state={})
    assert jobs.send_notice(PHONE, "help", INBOUND_SID) is True
    assert statuses("program") == statuses("help") == ["delivered"]


def test_a_webhook_of_the_texter_during_a_refused_staff_send_is_kept(app, twilio_server):
    """The staff send commits before Twilio sees the message, which ends its lock on the
    texter: a keyword the texter sends meanwhile is recorded, and the refused submission
    forgotten afterwards (under the lock again) does not write over it."""
    user = make_user(PHONE)

    def texter_writes_then_refused(method, path, body):
        with app.app_context():
            form = inbound_form("HELP", From=PHONE, MessageSid=INBOUND_SID)
            assert signed_post(app.test_client(), "/sms/inbound", form).status_code == 200
            db.session.remove()
        return 400, twilio_error(400, 21211, "Invalid 'To' Phone Number"), {}

    twilio_server.default = texter_writes_then_refused
    with pytest.raises(handoff.outbound.SendFailed):
        handoff.send_as_staff(user, "hello", None, submission="form-1")
    db.session.commit()
    db.session.expire_all()
    user = db.session.get(User, PHONE)
    assert db.session.get(HandledMessage, INBOUND_SID) is not None
    assert not handoff.was_sent(user, "form-1")


def test_a_takeover_during_a_staff_send_leaves_the_new_holder(app, twilio_server):
    """Bob replies to a waiting texter while Ann takes the conversation over: the reply is
    recorded against the conversation as Ann left it, not as Bob's page read it."""
    ann, bob = make_staff("ann"), make_staff("bob")
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.commit()

    def ann_takes_over_then_sent(method, path, body):
        with app.app_context():
            handoff.take_over(db.session.get(User, PHONE), db.session.get(type(ann), ann.id))
            db.session.commit()
            db.session.remove()
        return 201, twilio_message(body), {}

    twilio_server.default = ann_takes_over_then_sent
    handoff.send_as_staff(user, "On it.", bob)
    db.session.commit()
    db.session.expire_all()
    conversation = handoff.find(PHONE)
    assert (db.session.get(User, PHONE).conversation_state, conversation.held_by) == (
        "staff",
        ann,
    )


def test_a_text_held_during_a_staff_send_stays_unread(app, twilio_server):
    """The staff member read the texts held before they replied, not one that came while
    Twilio had the reply: that one is still unread for the inbox."""
    ann = make_staff("ann")
    user = make_user(PHONE)
    handoff.take_over(user, ann)
    handoff.hold_text(user)
    db.session.commit()

    def texter_writes_then_sent(method, path, body):
        with app.app_context():
            form = inbound_form("And another thing", From=PHONE)
            assert signed_post(app.test_client(), "/sms/inbound", form).status_code == 200
            db.session.remove()
        return 201, twilio_message(body), {}

    twilio_server.default = texter_writes_then_sent
    handoff.send_as_staff(user, "On it.", ann)
    db.session.commit()
    db.session.expire_all()
    assert handoff.find(PHONE).unread == 1
