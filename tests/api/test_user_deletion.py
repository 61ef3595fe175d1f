"""Deleting a texter: nothing of theirs attaches to whoever texts from the number next, and
the money already spent on them stays in the service's spend."""

from __future__ import annotations

import threading
from decimal import Decimal
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.costs import report
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, ModelCall, OutboundMessage, User
from sms_agent.ops.error_log import record_error
from tests.api.conftest import token_header
from tests.export_data import conversation
from tests.factories import make_staff, make_task, make_token, make_user
from tests.lock_waits import in_app_thread, waiting_for_locks
from tests.standins import signed_post, twilio_error

PHONE = "+15551230400"
URL = f"/api/users/{quote(PHONE)}/"


def _service_spend() -> dict:
    return {"totals": report.totals(), "daily": report.daily(days=3)}


def test_a_new_texter_of_a_deleted_number_finds_nothing_of_the_old_one(
    app, client, admin_headers, openai_server
):
    conversation(app, openai_server, make_user(PHONE))
    spent_before = _service_spend()
    assert report.spent_by(PHONE) > 0

    assert client.delete(URL, headers=admin_headers).status_code == 204
    make_task(make_user(PHONE), sms_content="Hello, I am new here")
    db.session.commit()

    export = client.get(URL + "export/", headers=admin_headers).get_json()
    assert [entry["direction"] for entry in export["entries"]] == ["in"]
    assert Decimal(export["totals"]["total_usd"]) == 0
    thread = client.get(URL + "messages/", headers=admin_headers).get_json()
    assert [message["direction"] for message in thread["results"]] == ["in"]
    user = client.get(URL, headers=admin_headers).get_json()
    assert Decimal(user["cost_usd"]) == Decimal(user["cost_this_month_usd"]) == 0
    assert report.spent_by(PHONE) == 0
    # The money was spent: the service's totals and days are what they were.
    assert _service_spend() == spent_before


def test_the_deleted_texters_sms_and_model_calls_stay_without_number_or_text(
    app, client, admin_headers, openai_server
):
    texter = make_user(PHONE)
    conversation(app, openai_server, texter)
    record_error("twilio_error", f"The 'To' number {PHONE} is not reachable", user=texter)
    db.session.commit()

    assert client.delete(URL, headers=admin_headers).status_code == 204

    sent = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.body != "x")).all()
    assert [(m.to_number, m.body, m.price_usd > 0) for m in sent] == [(None, "", True)] * 2
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.user_phone is None and call.cost_usd > 0
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert error.user_phone is None and PHONE not in error.error_message
    assert (
        db.session.execute(
            sa.text("SELECT count(*) FROM spend_monthly WHERE phone = :phone"), {"phone": PHONE}
        ).scalar_one()
        == 0
    )
    # Other texters' rows are left alone.
    assert db.session.scalar(sa.select(sa.func.count()).where(OutboundMessage.body == "x")) == 1


def test_deleting_texters_with_raw_sql_anonymises_them_too(app, openai_server):
    conversation(app, openai_server, make_user(PHONE))
    before = _service_spend()

    db.session.execute(sa.delete(User).where(User.phone_number == PHONE))
    db.session.commit()

    numbers = db.session.scalars(sa.select(OutboundMessage.to_number)).all()
    assert PHONE not in numbers
    assert _service_spend() == before


@pytest.mark.parametrize(
    ("twilio_says", "send_status", "sms_status"),
    [("sent", 200, "queued"), ("refused", 502, "failed")],
    ids=["sent", "refused"],
)
def test_a_texter_deleted_while_staff_text_them_is_deleted_and_the_send_answered(
    app, client, admin_headers, twilio_server, twilio_says, send_status, sms_status
):
    """Regression: the send stored Twilio's answer on its SMS row, then took the texter's row
    to record the staff reply; the deletion takes the texter's row, then their SMS rows (to
    anonymise them). Meeting there they deadlocked, and PostgreSQL failed one with a 409. A
    third transaction holding the SMS row while Twilio answers makes them meet every time."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    make_user(PHONE)
    other_admin = token_header(make_token(make_staff("other admin", is_admin=True)))
    db.session.commit()
    twilio_has_it, twilio_answers = threading.Event(), threading.Event()
    answer = twilio_server.default

    def slow_twilio(*request):
        twilio_has_it.set()
        twilio_answers.wait(30)
        if twilio_says == "refused":
            return 400, twilio_error(400, 21211, "The 'To' number is not valid"), {}
        return answer(*request)

    twilio_server.default = slow_twilio
    responses: dict[str, object] = {}

    sender = in_app_thread(
        app,
        results=responses,
        name="send",
        call=lambda: client.post(
            URL + "send_message/", json={"message": "Hi"}, headers=admin_headers
        ),
    )
    deleter = in_app_thread(
        app, results=responses, name="delete", call=lambda: client.delete(URL, headers=other_admin)
    )
    sender.start()
    assert twilio_has_it.wait(30)
    [sms_id] = db.session.scalars(sa.select(OutboundMessage.id)).all()
    db.session.rollback()
    with db.engine.connect() as holder:
        holder.execute(
            sa.select(OutboundMessage.id).where(OutboundMessage.id == sms_id).with_for_update()
        )
        twilio_answers.set()
        waiting_for_locks(1)  # the send, to store Twilio's answer
        deleter.start()
        waiting_for_locks(2)  # the deletion, holding the texter, to anonymise the SMS
        holder.rollback()
        sender.join(30)
        deleter.join(30)
    assert responses["delete"].status_code == 204, responses["delete"].get_json()
    assert responses["send"].status_code == send_status, responses["send"].get_json()
    assert db.session.get(User, PHONE) is None
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sent.to_number, sent.body, sent.status) == (None, "", sms_status)


def test_a_texter_deleted_while_twilio_reports_their_sms_undelivered_is_deleted(
    app, client, admin_headers
):
    """Regression: the delivery report moved the SMS row to undelivered, then its error log
    for staff, which names the texter, waited for the texter's row; the deletion holds that
    row and waits for the SMS row, to anonymise it. They deadlocked: PostgreSQL failed the
    deletion (409) or the report (500, retried by Twilio)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    make_user(PHONE)
    sms = OutboundMessage(to_number=PHONE, body="hi", sid="SM" + "a" * 32, status="sent")
    db.session.add(sms)
    db.session.commit()
    sms_id = sms.id
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    form["AccountSid"] = "AC" + "0" * 32
    responses: dict[str, object] = {}

    reporter = in_app_thread(
        app, results=responses, name="report", call=lambda: signed_post(client, "/sms/status", form)
    )
    deleter = in_app_thread(
        app,
        results=responses,
        name="delete",
        call=lambda: client.delete(URL, headers=admin_headers),
    )
    with db.engine.connect() as holder:
        holder.execute(
            sa.select(OutboundMessage.id).where(OutboundMessage.id == sms_id).with_for_update()
        )
        reporter.start()
        waiting_for_locks(1)  # the report, to move the SMS to undelivered
        deleter.start()
        waiting_for_locks(2)  # the deletion, holding the texter, to anonymise the SMS
        holder.rollback()
        reporter.join(30)
        deleter.join(30)
    assert responses["delete"].status_code == 204, responses["delete"].get_json()
    assert responses["report"].status_code == 200, responses["report"].get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, PHONE) is None
    assert (
        db.session.get(OutboundMessage, sms_id).status,
        db.session.get(OutboundMessage, sms_id).to_number,
    ) == ("undelivered", None)
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert error.user_phone is None and PHONE not in error.error_message
