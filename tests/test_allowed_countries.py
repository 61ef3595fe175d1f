"""The countries we may text (ALLOWED_COUNTRIES, by default our own number's): nothing is
sent abroad, neither through the API nor as an answer, nor asked of the model."""

from __future__ import annotations

import sqlalchemy as sa

from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, OutboundMessage
from tests.admission import stored, text
from tests.factories import make_staff, make_token, make_user
from tests.test_webhook import queued_jobs


def test_send_message_abroad_is_refused_with_403_and_an_error_log(app, client):
    uk = make_user("+447700900123")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    response = client.post(
        "/api/users/%2B447700900123/send_message/", json={"message": "hi"}, headers=headers
    )
    assert response.status_code == 403
    body = response.get_json()
    assert body["details"] == {"country": "GB", "allowed_countries": ["US"]}
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert error.error_type == "validation_error" and error.user_phone == uk.phone_number


def test_a_text_from_abroad_is_not_sent_to_the_model_nor_answered(app, client, openai_server):
    text(client, phone="+447700900123")
    [(_name, [task_id])] = [job for job in queued_jobs(app) if job[0].endswith("answer_task")]
    assert pipeline.answer(task_id) == "not_sent"
    assert openai_server.requests == []
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert stored() == [("failed", None)]
    assert {e.error_type for e in db.session.scalars(sa.select(ErrorLog))} == {"validation_error"}


def test_allowed_countries_may_be_widened(app, client):
    app.config.update(ALLOWED_COUNTRIES=("US", "GB"))
    text(client, phone="+447700900123")
    [(_name, [task_id])] = [job for job in queued_jobs(app) if job[0].endswith("answer_task")]
    assert pipeline.answer(task_id) == "answered"
    [sms] = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == "reply"))
    assert sms.to_number == "+447700900123"


def test_the_default_is_the_country_of_our_own_number(app):
    app.config.update(TWILIO_PHONE_NUMBER="+447700900000")
    from sms_agent.outbound.send import allowed_countries

    assert allowed_countries() == ("GB",)
