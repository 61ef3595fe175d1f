"""Sending: the one entry point every SMS the service sends goes through."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import handoff, outbound, simulator
from sms_agent.extensions import db
from sms_agent.models import Task, utcnow
from sms_agent.outbound.sender import sender_number
from tests.factories import make_task, make_user
from tests.standins import chat_completion, inbound_form, signed_post
from tests.test_more import LONG
from tests.test_pipeline import outbox


def test_send_refuses_an_opted_out_user_and_stores_nothing(app):
    user = make_user(opted_out_at=utcnow())
    with pytest.raises(outbound.OptedOut):
        outbound.send(user, "hello", kind="api")
    assert outbox() == []


def test_send_records_encoding_and_segments(app):
    user = make_user()
    [message] = outbound.send(user, "Γειά σου " * 10, kind="api")
    db.session.commit()
    assert (message.encoding, message.segments, message.status) == ("UCS-2", 2, "sent")


# -- the number it goes out from ----------------------------------------------------------
#: A second number of ours, beside TWILIO_PHONE_NUMBER (+15005550006).
SECOND = "+15005550010"
TEXTER = "+15551230000"


def text_in(client, body: str, **fields) -> dict:
    """A signed SMS from the texter through the real webhook, its jobs run at once."""
    form = inbound_form(body, From=TEXTER, **fields)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()
    return form


def senders(twilio_server) -> list[tuple[str, str]]:
    """(From, Body) of each message the Twilio stand-in was asked to send."""
    return [(form["From"], form["Body"]) for method, _, form in twilio_server.requests]


def test_the_answer_comes_from_the_number_the_texter_wrote_to(
    app, client, twilio_server, openai_server
):
    make_user(TEXTER)
    openai_server.then(200, chat_completion("Paris."))
    text_in(client, "What is the capital of France?", To=SECOND)
    assert senders(twilio_server) == [(SECOND, "Paris.")]
    task = db.session.scalar(sa.select(Task))
    assert task.metadata_[outbound.OUR_NUMBER] == SECOND


def test_a_new_texters_program_notice_and_a_keywords_notice_come_from_it_too(
    app, client, twilio_server
):
    text_in(client, "HELP", To=SECOND)  # a new number: the program notice comes first
    assert [sender for sender, _ in senders(twilio_server)] == [SECOND, SECOND]


def test_the_quota_notice_comes_from_the_number_the_refused_text_went_to(
    app, client, twilio_server
):
    make_user(TEXTER, monthly_requests=100)
    text_in(client, "One more?", To=SECOND)
    [(sender, body)] = senders(twilio_server)
    assert sender == SECOND and "used your 100 requests" in body


def test_more_comes_from_the_number_more_was_written_to(app, client, twilio_server, openai_server):
    make_user(TEXTER)
    openai_server.then(200, chat_completion(LONG))
    text_in(client, "How do I deploy safely?", To=SECOND)
    text_in(client, "MORE", To=SECOND)
    text_in(client, "MORE", To="+15005550006")  # the texter went on in the other thread
    assert [sender for sender, _ in senders(twilio_server)] == [SECOND, SECOND, "+15005550006"]


def test_without_a_number_written_to_it_comes_from_twilio_phone_number(app, client, twilio_server):
    """API-created tasks, tasks stored before the number was kept, staff's messages to a
    texter whose latest text did not keep it."""
    user = make_user(TEXTER)
    task = make_task(user, status="processing", ai_response="Paris.")
    outbound.send(user, "Paris.", kind="reply", task=task)
    outbound.send(user, "Staff here.", kind="staff")
    assert [sender for sender, _ in senders(twilio_server)] == ["+15005550006"] * 2


def test_staff_write_from_the_number_the_texter_last_wrote_to(app, client, twilio_server):
    user = make_user(TEXTER)
    text_in(client, "AGENT", To=SECOND)  # asks for a person; the text is held for staff
    text_in(client, "Is anyone there?", To=SECOND)
    handoff.send_as_staff(user, "Hi, Sam here.", None)
    assert senders(twilio_server)[-1] == (SECOND, "Hi, Sam here.")


@pytest.mark.parametrize(
    ("written_to", "channel", "sender"),
    [
        (SECOND, "sms", SECOND),
        ("whatsapp:" + SECOND, "whatsapp", SECOND),
        # Written to on the other channel: a WhatsApp sender may take no SMS, and back.
        ("whatsapp:" + SECOND, "sms", None),
        (SECOND, "whatsapp", None),
        (None, "sms", None),
    ],
)
def test_the_sender_is_the_number_written_to_on_the_same_channel(written_to, channel, sender):
    assert sender_number(written_to, channel) == sender
