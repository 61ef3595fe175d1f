"""The countries we may text (ALLOWED_COUNTRIES, by default our own number's): nothing is
sent abroad, neither through the API nor as an answer, nor asked of the model."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import jobs, quota
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, OutboundMessage, Task
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


def test_our_own_number_with_a_texters_row_is_sent_no_notice_bulk_or_other(app, client):
    """Regression: a text from our own number gave it a texter's row (one stored before
    such texts stopped making any, or one staff made), and a bulk tier change then texted
    our own number, which could come back as a text to answer. Nothing is ever sent to a
    number of ours."""
    ours = make_user("+15005550006")
    quota.change_tier(ours, "premium")
    db.session.commit()
    jobs.enqueue_tier_change_notices([(ours, "free")])
    for kind in ("tier_change", "help"):
        assert (
            jobs.send_notice.apply(args=[ours.phone_number, kind, "BN" + "1" * 32]).get() is False
        )
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


@pytest.mark.parametrize("ours", ["+15005550006", "+15005550077"])
def test_send_message_to_our_own_number_is_refused_with_403(app, client, ours):
    app.config["TWILIO_WHATSAPP_NUMBER"] = "+15005550077"
    make_user(ours)
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    path = f"/api/users/{ours.replace('+', '%2B')}/send_message/"
    response = client.post(path, json={"message": "hi"}, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["details"] == {"reason": "own_number"}
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    response = client.post(
        "/api/tasks/", json={"user_phone": ours, "sms_content": "hi"}, headers=headers
    )
    assert response.status_code == 403 and db.session.scalars(sa.select(Task)).all() == []
