"""Deleting a texter: nothing of theirs attaches to whoever texts from the number next, and
the money already spent on them stays in the service's spend."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import sqlalchemy as sa

from sms_agent.costs import report
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, ModelCall, OutboundMessage, User
from sms_agent.ops.error_log import record_error
from tests.export_data import conversation
from tests.factories import make_task, make_user

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
