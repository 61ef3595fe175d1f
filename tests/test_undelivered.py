"""A message Twilio reports it could not deliver leaves one ErrorLog for staff, where they
look for errors (the admin's errors view, the API's error logs); the task keeps its status."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from sms_agent.extensions import db
from sms_agent.models import ErrorLog, OutboundMessage, Task
from tests.factories import make_staff, make_task, make_token
from tests.standins import signed_post

SID = "SM" + "c" * 32


def sent_reply() -> OutboundMessage:
    task = make_task(status="completed", success=True)
    message = OutboundMessage(
        task=task, to_number=task.user_phone, body="Paris.", sid=SID, status="sent"
    )
    db.session.add(message)
    db.session.commit()
    return message


def report(client, status: str, code: str | None = None, *, message=None):
    form = {"MessageSid": SID, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    if code is not None:
        form["ErrorCode"] = code
    path = f"/sms/status?message={message.id}" if message is not None else "/sms/status"
    assert signed_post(client, path, form).status_code == 200


def errors() -> list[ErrorLog]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(ErrorLog)))


@pytest.mark.parametrize(
    "status,code,meaning",
    [
        ("undelivered", "30003", "the phone is unreachable"),
        ("undelivered", "30005", "the number is unknown to its carrier"),
        ("undelivered", "30006", "the number is a landline"),
        ("failed", "30007", "the carrier filtered the message"),
        ("undelivered", "30008", "the carrier gave no reason"),
        ("failed", "30999", "see Twilio's error reference"),
        ("failed", None, "Twilio gave no error code"),
    ],
)
def test_a_message_that_did_not_arrive_is_logged_for_staff(client, status, code, meaning):
    message = sent_reply()
    report(client, status, code)
    [error] = errors()
    assert error.error_type == "twilio_error"
    assert (error.user_phone, error.task_id) == (message.to_number, message.task_id)
    assert f"{status}: error {code or 'none'}, {meaning}" in error.error_message
    assert error.metadata_["twilio_code"] == (int(code) if code else None)
    assert error.metadata_["sid"] == SID and error.metadata_["delivery_status"] == status


@pytest.mark.parametrize(
    "code,meaning",
    [
        ("63003", "the number is not on WhatsApp"),
        ("63014", "the texter blocked our WhatsApp sender"),
        ("63016", "has not written within 24 hours"),
        ("63024", "the number is not on WhatsApp"),
    ],
)
def test_a_whatsapp_message_that_did_not_arrive_is_logged_as_one_with_whatsapps_reason(
    client, code, meaning
):
    """Staff read "reply SMS ... failed: error 63003, see Twilio's error reference": an SMS
    that was never sent, and no word of what WhatsApp had said."""
    message = sent_reply()
    message.channel = "whatsapp"
    db.session.commit()
    report(client, "failed", code)
    [error] = errors()
    assert error.error_message.startswith("reply WhatsApp message to ")
    assert f"failed: error {code}, " in error.error_message and meaning in error.error_message


def test_the_task_keeps_its_status(client):
    """Its answer was made and handed to Twilio: only the delivery failed."""
    message = sent_reply()
    report(client, "undelivered", "30003")
    task = db.session.get(Task, message.task_id)
    assert (task.status, task.success) == ("completed", True)


@pytest.mark.parametrize("again", ["undelivered", "failed", "delivered"])
def test_a_repeated_report_adds_no_second_error(client, again):
    sent_reply()
    report(client, "undelivered", "30003")
    report(client, again, "30003")
    assert len(errors()) == 1


def test_a_report_that_comes_before_the_sid_is_stored_is_logged_with_it(client):
    task = make_task()
    message = OutboundMessage(task=task, to_number=task.user_phone, body="hi", status="queued")
    db.session.add(message)
    db.session.commit()
    report(client, "failed", "30006", message=message)
    [error] = errors()
    assert error.metadata_["sid"] == SID and error.task_id == task.id


@pytest.mark.parametrize("status", ["sent", "delivered"])
def test_messages_on_their_way_or_delivered_log_nothing(client, status):
    sent_reply()
    report(client, status)
    assert errors() == []


def test_an_unsubscribed_recipient_is_an_opt_out_not_an_error(client):
    message = sent_reply()
    report(client, "failed", "21610")
    assert errors() == []
    assert db.session.get(Task, message.task_id).user.is_opted_out


def test_the_error_shows_in_the_apis_error_logs(client):
    message = sent_reply()
    report(client, "undelivered", "30007")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    body = client.get("/api/errors/", headers=headers).get_json()
    [error] = body["results"]
    assert error["error_type"] == "twilio_error" and error["user_phone"] == message.to_number
    assert "30007" in error["error_message"]


def test_of_two_reports_racing_only_the_one_that_moved_the_message_logs(client):
    """Twilio's retry of a report may be handled at once by another web process: both read
    the message as sent, the other commits first, and ours then moves nothing."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite's write lock makes the two take turns")
    message = sent_reply()
    fired = []

    def the_other_report_commits_first(execution):
        if fired or not execution.is_update:
            return
        fired.append(True)
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(OutboundMessage.__table__)
                .where(OutboundMessage.__table__.c.id == message.id)
                .values(status="undelivered", error_code=30003)
            )

    sa.event.listen(Session, "do_orm_execute", the_other_report_commits_first)
    try:
        report(client, "undelivered", "30003")
    finally:
        sa.event.remove(Session, "do_orm_execute", the_other_report_commits_first)
    assert fired and errors() == []
