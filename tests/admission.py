"""Texting the service through the signed webhook, and reading back what it stored and
queued: what the tests of the admission limits (spend caps, sender rate, countries) share."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ModelCall, StaffUser, Task, utcnow
from tests.factories import make_staff, make_token
from tests.standins import inbound_form, signed_post
from tests.test_webhook import queued_jobs

PHONE = "+15551230000"
D = Decimal


def text(client, body: str = "What is DNS?", phone: str = PHONE) -> None:
    assert signed_post(client, "/sms/inbound", inbound_form(body, From=phone)).status_code == 200


def text_on_whatsapp(client, body: str = "What is DNS?", phone: str = PHONE) -> None:
    form = inbound_form(body, From="whatsapp:" + phone, To="whatsapp:+15005550006")
    assert signed_post(client, "/sms/inbound", form).status_code == 200


def text_with(client, content_type: str, count: int = 1, body: str = "") -> None:
    """Text with `count` attachments of `content_type` (pictures, voice notes)."""
    media = {"NumMedia": str(count)}
    for n in range(count):
        media[f"MediaUrl{n}"] = f"https://api.twilio.com/x/Media/ME{n}"
        media[f"MediaContentType{n}"] = content_type
    form = inbound_form(body, From=PHONE, **media)
    assert signed_post(client, "/sms/inbound", form).status_code == 200


def spent(phone: str, amount: str, days_ago: int = 0) -> None:
    """What answering this number already cost: a model call of `amount` USD."""
    when = utcnow() - timedelta(days=days_ago)
    db.session.add(ModelCall(user_phone=phone, model="gpt-4o", cost_usd=D(amount), created_at=when))
    db.session.commit()


def stored() -> list[tuple[str, str | None]]:
    """(status, refusal_reason) of every stored text, oldest first."""
    db.session.rollback()
    rows = db.session.execute(
        sa.select(Task.status, Task.refusal_reason).order_by(Task.created_at)
    ).all()
    return [tuple(row) for row in rows]


def notices(app) -> list[str]:
    return [args[1] for name, args in queued_jobs(app) if name.endswith("send_notice")]


def answers(jobs) -> int:
    return sum(1 for name, _args in jobs if name.endswith("answer_task"))


def api_create(client, phone: str = PHONE):
    """POST /api/tasks/ for `phone` as an admin, as a client of the API creates a task."""
    admin = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "admin"))
    token = make_token(admin or make_staff("admin", is_admin=True))
    return client.post(
        "/api/tasks/",
        json={"user_phone": phone, "sms_content": "Hi"},
        headers={"Authorization": "Token " + token},
    )


def assert_lifts_at(response, key: str, lifts: datetime, before: datetime, after: datetime):
    """The 429 names when the refusal lifts (`details[key]`, UTC) and Retry-After the
    seconds from then, rounded up, as the quota's and the monthly spend cap's do."""
    assert response.status_code == 429
    said = datetime.fromisoformat(response.get_json()["details"][key])
    assert said == lifts and said.utcoffset() == timedelta(0)
    seconds = int(response.headers["Retry-After"])
    assert (said - after).total_seconds() <= seconds <= math.ceil((said - before).total_seconds())
